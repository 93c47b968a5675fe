"""The worker: a run-once process that executes one record, then exits.

It owns nothing. The cloud service launches one per record (local process, Docker container or
Kubernetes pod) with only the broker URL and the record id; a worker forked on the cloud
service's host is handed its job with its launch (`--job-fd`), any other asks the scheduler
for it (`scheduler.get_job`), and stage changes, heartbeats and log lines go back over the bus.

main.py (entry, job, exit code) -> runtime.py (stages in order, abort, final status) ->
stages/ (checkout: git and svn; commands: unitTest and package) with domain.py (pure rules)
and publisher.py (batched log lines, events, heartbeats).
"""
