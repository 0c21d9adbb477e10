"""Goals use cases: one function per command, each inside one unit of work."""
