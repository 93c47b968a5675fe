"""The scm service.

Owns webhook delivery ids: GitHub/GitLab/SVN adapters, webhooks, statuses, tags.
"""
