"""The cloud service.

Owns clouds: launches, watches and stops workers through drivers (local, Docker, Kubernetes).
"""
