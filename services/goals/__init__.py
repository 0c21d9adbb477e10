"""The goals service: the system of record for departments, cycles, objectives and key results."""
