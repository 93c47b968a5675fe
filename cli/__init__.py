"""`cyclone`, the terminal client of Cyclone's public API (docs/cli.md).

It talks to the gateway over HTTP and the logstream WebSocket only, like any client, and
imports nothing from the services.
"""
