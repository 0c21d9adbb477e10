"""The HTTP shell every service shares: errors, health, metrics, request logging, OpenAPI."""
