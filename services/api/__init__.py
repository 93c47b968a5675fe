"""The gateway: Falcon ASGI app under gunicorn. Owns projects, pipelines and integrations."""
