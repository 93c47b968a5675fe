"""nameko entrypoints of the scheduler service; each delegates to domain code in a line or two."""

from shared.contracts import services
from shared.ping import PingMixin


class SchedulerService(PingMixin):
    """Owns records: lifecycle, queue and dispatch, abort, reaping, stats, cron triggers.

    Until its issue lands the service answers only `ping` (docs/roadmap.md).
    """

    name = services.SCHEDULER
