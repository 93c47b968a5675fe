"""The command groups, one module per noun of the API."""
