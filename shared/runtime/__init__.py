"""Running the platform: background worker processes, the embedded broker, the local launcher."""
