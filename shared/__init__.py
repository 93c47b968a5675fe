"""Contracts and small helpers shared by every Cyclone service (no business rules here)."""
