"""Pure domain code of the gateway: validation, naming, secrets, merging (no falcon, no pymongo)."""
