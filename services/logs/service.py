"""nameko entrypoints of the logs service; each delegates to domain code in a line or two."""

from shared.contracts import services
from shared.ping import PingMixin


class LogsService(PingMixin):
    """Owns log lines: ingests worker log streams, serves stored logs, feeds live followers.

    Until its issue lands the service answers only `ping` (docs/roadmap.md).
    """

    name = services.LOGS
