"""The goals domain: plain Python, no Flask, SQLAlchemy or Kafka."""
