"""Test support: real brokers, real databases, and readers for what reached Kafka."""
