"""nameko entrypoints of the scm service; each delegates to domain code in a line or two."""

from shared.contracts import services
from shared.ping import PingMixin


class ScmService(PingMixin):
    """Owns webhook delivery ids: GitHub/GitLab/SVN adapters, webhooks, statuses, tags.

    Until its issue lands the service answers only `ping` (docs/roadmap.md).
    """

    name = services.SCM
