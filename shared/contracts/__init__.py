"""The bus contract: service names, RPC methods, events and their payloads, in one place.

Both the dispatching and the handling side import these names; no service or event name is
spelled as a literal anywhere else.
"""
