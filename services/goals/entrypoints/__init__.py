"""Ways into the goals service: the HTTP API, the relay worker and the command line."""
