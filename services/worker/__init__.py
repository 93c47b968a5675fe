"""The worker: a run-once process that executes one record, then exits.

It owns nothing. The cloud service launches one per record (local process, Docker container or
Kubernetes pod) with only the broker URL and the record id; stage changes, heartbeats and
log lines go back over the bus. Executing records is the runs capability (docs/roadmap.md).
"""
