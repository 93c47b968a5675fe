"""nameko entrypoints of the cloud service; each delegates to domain code in a line or two."""

from shared.contracts import services
from shared.ping import PingMixin


class CloudService(PingMixin):
    """Owns clouds: launches, watches and stops workers through drivers (local, Docker, Kubernetes).

    Until its issue lands the service answers only `ping` (docs/roadmap.md).
    """

    name = services.CLOUD
