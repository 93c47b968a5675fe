"""The logs service.

Owns log lines: ingests worker log streams, serves stored logs, feeds live followers.
"""
