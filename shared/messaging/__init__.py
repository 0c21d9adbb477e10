"""Kafka plumbing: client factories, topic administration, the outbox relay and the consumer runner."""
