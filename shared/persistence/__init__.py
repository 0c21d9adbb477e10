"""Database plumbing shared by every service: engines, the outbox and processed-event tables."""
