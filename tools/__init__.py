"""Developer tooling: the stack launcher behind `make run`."""
