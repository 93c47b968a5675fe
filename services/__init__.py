"""Cyclone's deployable services, one package each."""

import warnings

# nameko imports eventlet, which prints a deprecation banner in every process (STACK-NOTES).
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
