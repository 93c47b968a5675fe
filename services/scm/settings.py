"""The scm service's own settings: where records are linked to, retries, the SMTP server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.envvars import Env


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int = 25
    user: str = ""
    password: str = ""
    sender: str = "cyclone@localhost"
    starttls: bool = False  # port 465 always speaks TLS from the first byte


@dataclass(frozen=True)
class Delivery:
    public_url: str  # the gateway as people reach it: links in notifications and statuses
    attempts: int = 5  # tries per delivery, the first included
    retry_base: float = 5.0  # seconds before the 2nd try; doubles after each failure
    timeout: float = 10.0  # seconds per HTTP request or SMTP conversation
    smtp: Smtp | None = None  # None: mails are skipped (and logged)


def delivery(env: Mapping[str, str] | None = None) -> Delivery:
    read = Env(env)
    host = read.text("CYCLONE_HOST", "127.0.0.1")
    port = read.text("CYCLONE_PORT", "7099")
    smtp = None
    if read.is_set("CYCLONE_SMTP_HOST"):
        smtp = Smtp(
            host=read.text("CYCLONE_SMTP_HOST"),
            port=read.integer("CYCLONE_SMTP_PORT", 25),
            user=read.text("CYCLONE_SMTP_USER"),
            password=read.text("CYCLONE_SMTP_PASSWORD"),
            sender=read.text("CYCLONE_SMTP_FROM", "cyclone@localhost"),
            starttls=read.flag("CYCLONE_SMTP_STARTTLS", False),
        )
    return Delivery(
        public_url=read.text("CYCLONE_PUBLIC_URL", f"http://{host}:{port}"),
        attempts=max(1, read.integer("CYCLONE_DELIVERY_ATTEMPTS", 5)),
        retry_base=read.number("CYCLONE_DELIVERY_RETRY_BASE", 5),
        timeout=read.number("CYCLONE_DELIVERY_TIMEOUT", 10),
        smtp=smtp,
    )
