"""The web UI: server-rendered page shells, hand-written ES modules, a cookie session."""
