"""Goals adapters: tables and repositories over SQLAlchemy Core."""
