"""The cloud service.

Owns clouds: launches, watches and stops workers through the drivers of its backends
(services/cloud/backends: Local, Docker, Kubernetes, one package each).
"""
