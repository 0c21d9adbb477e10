"""Kafka plumbing: clients, topic administration, the outbox relay, the consumer runner."""
