"""SCM adapters: one module per kind of repository."""
