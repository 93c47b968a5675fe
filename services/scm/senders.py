"""Sending one outbox delivery: a JSON POST, a mail, a commit status or a tag.

Each sender answers (outcome, note): `done`, `retry` (try again later: no answer, 5xx,
a transient SMTP reply), `give_up` (the receiver refused: 4xx, bad address, no right) or
`skipped` (nothing to send it with). Calls block; the scm service runs under eventlet's
monkey patching, so they only block their own green thread.
"""

from __future__ import annotations

import http.client
import json
import smtplib
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import TypeVar, cast

from services.scm import settings as cfg
from services.scm.domain import notify
from services.scm.outbox import OutboxItem
from services.scm.providers.base import Provider, provider_for
from shared.contracts import errors
from shared.contracts.catalog import ScmSection
from shared.contracts.rpc import ScmAccount
from shared.crypto import SecretBox, decrypt_all, is_encrypted

Result = tuple[str, str]
T = TypeVar("T")
SVN_TIMEOUT = 60


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected POST would arrive as a GET without its body: treat it as a refusal."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def post_json(url: str, body: Mapping[str, object], timeout: float, delivery_id: str) -> Result:
    """POST `body` to `url`. The notes never name the URL (it is a credential): only its
    scheme and host (`notify.redacted_url`)."""
    shown = notify.redacted_url(url)
    try:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "Cyclone",
                "X-Cyclone-Event": "record_finished",
                "X-Cyclone-Delivery": delivery_id,  # the same on every try: receivers may dedupe
            },
        )
    except ValueError as exc:  # not a URL urllib can send to
        return "give_up", f"{shown}: {notify.scrubbed(str(exc), url)}"
    try:
        with _opener.open(request, timeout=timeout) as resp:
            code = resp.status
    except urllib.error.HTTPError as exc:
        code = exc.code
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        why = str(getattr(exc, "reason", exc))
        return "retry", f"{shown}: {notify.scrubbed(why, url)}"
    return notify.outcome_of_http(code), f"{shown} answered {code}"


def send_mail(
    smtp: cfg.Smtp | None, to: list[str], body: notify.Summary, timeout: float, delivery_id: str
) -> Result:
    if smtp is None:
        return "skipped", "no SMTP server configured (CYCLONE_SMTP_HOST is unset)"
    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = "[Cyclone] " + notify.headline(body)
    msg["X-Cyclone-Delivery"] = delivery_id
    msg.set_content(notify.mail_text(body))
    implicit_tls = smtp.port == 465
    try:
        conn: smtplib.SMTP = (
            smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=timeout)
            if implicit_tls
            else smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
        )
        with conn:
            if smtp.starttls and not implicit_tls:
                conn.starttls(context=ssl.create_default_context())
            if smtp.user:
                conn.login(smtp.user, smtp.password)
            refused = conn.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        return "give_up", f"every recipient refused: {exc.recipients}"
    except smtplib.SMTPResponseException as exc:
        outcome = "retry" if 400 <= exc.smtp_code < 500 else "give_up"
        return outcome, f"SMTP {smtp.host}:{smtp.port} answered {exc.smtp_code} {exc.smtp_error!r}"
    except (smtplib.SMTPException, OSError) as exc:
        return "retry", f"SMTP {smtp.host}:{smtp.port}: {exc}"
    if refused:
        return "done", f"sent to {len(to) - len(refused)}; refused: {sorted(refused)}"
    return "done", f"sent to {len(to)}"


def _scm_call(call: Callable[[], None], what: str) -> Result:
    try:
        call()
    except errors.Unreachable as exc:
        return "retry", f"{what}: {exc}"
    except (
        errors.CredentialsRejected,
        errors.PermissionDenied,
        errors.NotFound,
        errors.InvalidRequest,
        errors.Conflict,
    ) as exc:
        return "give_up", f"{what}: {type(exc).__name__}: {exc}"
    return "done", what


def svn_tag(target: notify.Target, message: str, timeout: float = SVN_TIMEOUT) -> Result:
    """`svn copy` of the revision the run checked out to `^/tags/<record name>`."""
    url, rev, name = target["url"], str(target["revision"]), target["name"]
    creds = target.get("credentials")
    auth: list[str] = ["--non-interactive", "--no-auth-cache"]
    secret = ""
    if creds and creds.get("username"):
        auth += ["--username", creds["username"]]
        if creds.get("password"):
            auth.append("--password-from-stdin")
            secret = creds["password"]
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}

    def svn(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["svn", *args, *auth],
            input=secret,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )

    try:
        info = svn("info", "--show-item", "repos-root-url", url)
        if info.returncode != 0:
            return "retry", f"svn info {url}: {_last_line(info.stderr)}"
        dest = f"{info.stdout.strip()}/tags/{name}"
        done = svn("copy", "--parents", "-m", message, f"{url}@{rev}", dest)
    except subprocess.TimeoutExpired:
        return "retry", f"svn did not answer in {timeout}s"
    if done.returncode != 0:
        why = _last_line(done.stderr)
        permanent = "already exists" in why or "E160020" in why or "E170001" in why
        return ("give_up" if permanent else "retry"), f"svn copy to {dest}: {why}"
    return "done", f"tagged r{rev} as {dest}"


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or ["unknown error"])[-1]


class Senders:
    """Sends any outbox document; `providers` builds an SCM adapter (tests may point it at a
    fake SCM through the project's `scm.server`, like production does)."""

    def __init__(
        self,
        settings: cfg.Delivery,
        box: SecretBox | None,
        providers: Callable[[ScmAccount, float], Provider] = provider_for,
    ) -> None:
        self.settings = settings
        self.box = box
        self.providers = providers

    def __call__(self, doc: OutboxItem) -> Result:
        kind, target = doc["kind"], doc["target"]
        timeout = self.settings.timeout
        # The body is the one notify.plan made for the delivery's kind.
        if kind in ("webhook", "slack"):
            try:
                url = self._open(target["url"])  # sealed by the gateway
            except ValueError as exc:
                return "give_up", f"the receiver URL cannot be opened: {exc}"
            if is_encrypted(url):
                return "give_up", "the receiver URL is sealed and CYCLONE_SECRET_KEY is unset"
            return post_json(url, doc["body"], timeout, doc["_id"])
        if kind == "email":
            summary = cast(notify.Summary, doc["body"])
            return send_mail(self.settings.smtp, target["to"], summary, timeout, doc["_id"])
        if kind == "status":
            return self._status(target, cast(notify.StatusBody, doc["body"]))
        if kind == "tag":
            return self._tag(target, cast(notify.TagBody, doc["body"]))
        return "give_up", f"unknown delivery kind {kind!r}"

    def _open(self, value: T) -> T:
        """`value` with every sealed string in it opened (as it is without a key)."""
        if self.box is None:
            return value
        opened: object = decrypt_all(value, self.box)
        return cast(T, opened)

    def _account(self, scm: ScmSection) -> ScmAccount:
        """The project's account with its secrets opened."""
        return self._open(scm)

    def _status(self, target: notify.Target, body: notify.StatusBody) -> Result:
        provider = self.providers(self._account(target["scm"]), self.settings.timeout)
        what = f"{body['state']} status on {target['repo']}@{target['sha'][:7]}"
        return _scm_call(
            lambda: provider.create_status(
                target["repo"],
                target["sha"],
                body["state"],
                body["target_url"],
                body["description"],
                body["context"],
            ),
            what,
        )

    def _tag(self, target: notify.Target, body: notify.TagBody) -> Result:
        if target.get("unsupported"):
            return "skipped", f"createScmTag: {target['unsupported']}"
        if target.get("provider") == "svn":
            return svn_tag(self._open(target), body["message"])
        provider = self.providers(self._account(target["scm"]), self.settings.timeout)
        what = f"tag {target['name']} on {target['repo']}@{target['sha'][:7]}"
        return _scm_call(
            lambda: provider.create_tag(
                target["repo"], target["name"], target["sha"], body["message"]
            ),
            what,
        )
