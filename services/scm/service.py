"""nameko entrypoints of the scm service; each delegates to domain code in a line or two."""

from typing import Any

from nameko.rpc import RpcProxy, rpc

from services.scm import ingress
from services.scm.deliveries import DeliveryStore
from services.scm.providers import svn
from shared import mongo
from shared.contracts import errors, services
from shared.contracts import rpc as contract
from shared.ping import PingMixin


class Deliveries(mongo.MongoDatabase):
    def setup(self) -> None:
        super().setup()
        self.store = DeliveryStore(self.database)
        self.store.ensure_indexes()

    def get_dependency(self, worker_ctx: Any) -> DeliveryStore:
        return self.store


class ScmService(PingMixin):
    """Owns webhook delivery ids: GitHub/GitLab/SVN adapters, webhooks, statuses, tags.

    Today: SVN repository identity, and GitHub/GitLab deliveries (verify, deduplicate, match,
    start the run). The SCM REST adapters come later (docs/roadmap.md).
    """

    name = services.SCM
    deliveries: DeliveryStore = Deliveries()
    scheduler_rpc = RpcProxy(services.SCHEDULER)

    @rpc(expected_exceptions=errors.EXPECTED, sensitive_arguments=("password",))
    def svn_repo_info(
        self, url: str, username: str = "", password: str = ""
    ) -> contract.SvnRepoInfo:
        return svn.repo_info(url, username, password)

    @rpc(expected_exceptions=errors.EXPECTED, sensitive_arguments=("delivery.secret",))
    def receive_webhook(self, delivery: contract.WebhookDelivery) -> contract.WebhookOutcome:
        create = getattr(self.scheduler_rpc, contract.CREATE_RECORD)
        return ingress.receive(delivery, self.deliveries, create)
