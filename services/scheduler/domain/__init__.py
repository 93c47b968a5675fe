"""Pure rules of the scheduler: record states, stage selection, stats (no nameko, no pymongo)."""
