"""Fault injection on real parts: a Tansu broker stopped and restarted, processes killed with
SIGKILL, poison messages; on SQLite and PostgreSQL."""
