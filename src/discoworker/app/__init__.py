"""Use cases and the ports they need; adapters are wired in ``bootstrap`` only."""
