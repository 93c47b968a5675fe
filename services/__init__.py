"""Cyclone's deployable services, one package each."""
