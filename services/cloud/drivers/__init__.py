"""Where workers run: one driver per kind of cloud, all with the interface in `base.py`."""
