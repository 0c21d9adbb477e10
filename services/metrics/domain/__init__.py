"""The metrics domain: roll-up arithmetic, status rules and the goal graph, in plain Python."""
