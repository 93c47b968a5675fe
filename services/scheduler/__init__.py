"""The scheduler service.

Owns records: lifecycle, queue and dispatch, abort, reaping, stats, cron triggers.
"""
