"""The metrics service: a read model of the goal graph, incremental roll-ups and status."""
