"""Errors that cross RPC: raised by a service, re-raised as the same type by the caller.

Registered with nameko's `deserialize_to_instance`, so `except NotFound` works on the calling
side; list them in `@rpc(expected_exceptions=...)` so nameko does not log them as faults.
The gateway maps each to one HTTP status (services/api/errors.py).
"""

from nameko.exceptions import deserialize_to_instance


@deserialize_to_instance
class NotFound(Exception):
    """The named resource does not exist (HTTP 404)."""


@deserialize_to_instance
class Conflict(Exception):
    """The resource is in a state that forbids the change (HTTP 409)."""


@deserialize_to_instance
class InvalidRequest(Exception):
    """The request breaks a rule only the owning service can check (HTTP 400)."""


@deserialize_to_instance
class Unauthorized(Exception):
    """A credential or signature did not check out (HTTP 401)."""


@deserialize_to_instance
class CredentialsRejected(Exception):
    """An outside system (an SCM) refused the stored or given credentials (HTTP 400).

    Not 401: that status means the API's own bearer token was wrong."""


@deserialize_to_instance
class PermissionDenied(Exception):
    """An outside system accepted the credentials but refused the action (HTTP 403), e.g. no
    admin right on a repository to add a webhook."""


@deserialize_to_instance
class Unreachable(Exception):
    """An outside system did not answer, or answered with a failure of its own (HTTP 502)."""


@deserialize_to_instance
class CapacityExceeded(Conflict):
    """The cloud has no room for a worker now (a Kubernetes ResourceQuota is full): the
    scheduler keeps the record Pending and tries again later, instead of failing it."""


EXPECTED = (
    NotFound,
    Conflict,
    InvalidRequest,
    Unauthorized,
    CredentialsRejected,
    PermissionDenied,
    Unreachable,
)
