"""nameko entrypoints of the scm service; each delegates to domain code in a line or two."""

import logging
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.timer import timer

from services.scm import ingress, vetting
from services.scm import settings as scm_settings
from services.scm.afterrun import AfterRun
from services.scm.deliveries import DeliveryStore
from services.scm.outbox import Outbox
from services.scm.providers import svn
from services.scm.providers.base import (
    WEBHOOK_EVENTS,
    Provider,
    WebhookEvent,
    is_webhook_event,
    provider_for,
)
from services.scm.senders import Senders
from shared import metrics, mongo, rpcclients
from shared.contracts import errors, events, services
from shared.contracts import rpc as contract
from shared.contracts.boundary import check
from shared.contracts.catalog import ScmSection
from shared.crypto import SecretBox, decrypt_all
from shared.deadline import bounded
from shared.ping import PingMixin
from shared.redelivery import event_handler
from shared.rpcqueue import rpc
from shared.rpcreply import RpcProxy

log = logging.getLogger(__name__)

# Under the gateway's CYCLONE_RPC_TIMEOUT (10 s), which waits for the webhook's answer.
SCHEDULER_CALL_TIMEOUT = 8.0


class Deliveries(mongo.MongoDatabase):
    def setup(self) -> None:
        super().setup()
        self.store = DeliveryStore(self.database)
        self.store.ensure_indexes()

    def get_dependency(self, worker_ctx: Any) -> DeliveryStore:
        return self.store


class AfterRuns(mongo.MongoDatabase):
    """The outbox of notifications, commit statuses and tags (services/scm/afterrun.py)."""

    def setup(self) -> None:
        super().setup()
        outbox = Outbox(self.database)
        outbox.ensure_indexes()
        key = mongo.settings_of(self.container).secret_key
        settings = scm_settings.delivery()
        box = SecretBox(key) if key else None
        self.after_run = AfterRun(outbox, settings, Senders(settings, box))

    def get_dependency(self, worker_ctx: Any) -> AfterRun:
        return self.after_run


class ScmAccounts(DependencyProvider):
    """Opens a delivery's project account (sealed in the snapshot) into an SCM adapter, for
    what a webhook payload does not say (services/scm/vetting.py)."""

    def setup(self) -> None:
        key = mongo.settings_of(self.container).secret_key
        self.box = SecretBox(key) if key else None

    def open(self, scm: ScmSection) -> Provider:
        plain: object = decrypt_all(scm, self.box) if self.box is not None else scm
        return provider_for(check(contract.ScmAccount, plain, "scm account"), vetting.TIMEOUT)

    def get_dependency(self, worker_ctx: Any) -> vetting.Accounts:
        return self.open


class ScmService(PingMixin):
    """Owns webhook delivery ids: GitHub/GitLab/SVN adapters, webhooks, statuses, tags.

    Today: SVN repository identity, GitHub/GitLab deliveries the gateway verified
    (deduplicate, match, start the run), and what follows a run: notifications, commit
    statuses, tags (outbox).
    """

    name = services.SCM
    deliveries: DeliveryStore = Deliveries()
    after_run: AfterRun = AfterRuns()
    accounts: vetting.Accounts = ScmAccounts()
    scheduler_rpc = RpcProxy(services.SCHEDULER)

    @rpc(expected_exceptions=errors.EXPECTED, sensitive_arguments=("password",))
    def svn_repo_info(self, url: str, username: str, password: str) -> contract.SvnRepoInfo:
        return svn.repo_info(url, username, password)

    @rpc(expected_exceptions=errors.EXPECTED)
    def receive_webhook(self, delivery: contract.WebhookDelivery) -> contract.WebhookOutcome:
        delivery = check(contract.WebhookDelivery, delivery, "webhook delivery")
        create = bounded(
            rpcclients.scheduler(self.scheduler_rpc).create_record,
            SCHEDULER_CALL_TIMEOUT,
            "the scheduler did not create the run",
        )

        def started(record_id: str, sha: str) -> None:
            try:
                self.after_run.run_started(
                    record_id, delivery["project"], delivery["pipeline"], sha
                )
            except Exception:  # the run is started; a missing pending status is no reason to fail
                log.exception("could not queue the pending status of %s", record_id)

        provider = delivery["provider"] or "unknown"
        try:
            outcome = ingress.receive(delivery, self.deliveries, create, started, self.accounts)
        except Exception:
            metrics.WEBHOOKS.labels(provider, "error").inc()
            raise
        metrics.WEBHOOKS.labels(provider, outcome.get("status", "unknown")).inc()
        return outcome

    # --- after a run: notifications, commit statuses, tags -------------------------------

    # Idempotent: each delivery is stored under `{record}:{key}` and inserted only once.
    @event_handler(*events.RECORD_FINISHED)
    def handle_record_finished(self, payload: events.RecordFinished) -> None:
        self.after_run.record_finished(payload)

    @timer(interval=1)
    def send_deliveries(self) -> None:
        """Send what the outbox holds that is due (new ones, retries, those a restart left)."""
        self.after_run.drain()

    @timer(interval=5)
    def report_gauges(self) -> None:
        metrics.OUTBOX.labels("scm").set(self.after_run.outbox.backlog())

    # --- SCM accounts (services/scm/providers) ---------------------------------------------

    @rpc(expected_exceptions=errors.EXPECTED, sensitive_arguments=contract.SCM_SECRETS)
    def scm_check(self, scm: contract.ScmAccount) -> dict[str, str]:
        return {"login": _provider(scm).check()}

    @rpc(expected_exceptions=errors.EXPECTED, sensitive_arguments=contract.SCM_SECRETS)
    def scm_repos(self, scm: contract.ScmAccount) -> list[contract.RepoItem]:
        return [contract.RepoItem(name=r["name"], url=r["url"]) for r in _provider(scm).repos()]

    @rpc(expected_exceptions=errors.EXPECTED, sensitive_arguments=contract.SCM_SECRETS)
    def scm_branches(self, scm: contract.ScmAccount, repo: str) -> list[str]:
        return _provider(scm).branches(repo)

    @rpc(expected_exceptions=errors.EXPECTED, sensitive_arguments=contract.SCM_SECRETS)
    def scm_tags(self, scm: contract.ScmAccount, repo: str) -> list[str]:
        return _provider(scm).tags(repo)

    @rpc(expected_exceptions=errors.EXPECTED, sensitive_arguments=contract.SCM_SECRETS)
    def scm_template_type(self, scm: contract.ScmAccount, repo: str) -> str:
        return _provider(scm).template_type(repo)

    @rpc(expected_exceptions=errors.EXPECTED, sensitive_arguments=contract.SCM_SECRETS)
    def scm_dockerfiles(self, scm: contract.ScmAccount, repo: str) -> list[str]:
        return _provider(scm).dockerfiles(repo)

    @rpc(expected_exceptions=errors.EXPECTED, sensitive_arguments=(*contract.SCM_SECRETS, "secret"))
    def create_webhook(
        self, scm: contract.ScmAccount, repo: str, url: str, secret: str, events: list[str]
    ) -> str:
        return _provider(scm).create_webhook(repo, url, secret, _events(events))

    @rpc(expected_exceptions=errors.EXPECTED, sensitive_arguments=(*contract.SCM_SECRETS, "secret"))
    def update_webhook(
        self,
        scm: contract.ScmAccount,
        repo: str,
        hook_id: str,
        url: str,
        secret: str,
        events: list[str],
    ) -> str:
        return _provider(scm).update_webhook(repo, hook_id, url, secret, _events(events))

    @rpc(expected_exceptions=errors.EXPECTED, sensitive_arguments=contract.SCM_SECRETS)
    def delete_webhook(self, scm: contract.ScmAccount, repo: str, hook_id: str) -> None:
        _provider(scm).delete_webhook(repo, hook_id)


def _provider(scm: contract.ScmAccount) -> Provider:
    return provider_for(check(contract.ScmAccount, scm, "scm account"))


def _events(events: list[str]) -> list[WebhookEvent]:
    unknown = sorted(e for e in set(events) if not is_webhook_event(e))
    if unknown:
        raise errors.InvalidRequest(f"unknown webhook events {unknown}; one of {WEBHOOK_EVENTS}")
    return [e for e in events if is_webhook_event(e)]
