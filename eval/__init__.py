"""Deterministic evaluation: the structural check over the argument graph."""
