"""Pure rules of webhook ingress: signatures, payload parsing, trigger matching.

No nameko, no pymongo, no falcon: the api gateway and the scm service both call into this.
"""
