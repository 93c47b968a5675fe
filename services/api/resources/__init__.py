"""Falcon resources: small `on_<verb>` classes that translate HTTP to domain calls."""
