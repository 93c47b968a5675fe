"""Pure rules of webhook ingress: payload parsing, trigger matching, notifications.

No nameko, no pymongo, no falcon. Signatures are checked by the gateway
(services/api/domain/signatures.py) before a delivery reaches this service.
"""
