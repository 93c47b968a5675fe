"""The scm service's own settings: where records are linked to, retries, the SMTP server."""

from __future__ import annotations

import os
from dataclasses import dataclass


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


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def delivery(env: dict[str, str] | None = None) -> Delivery:
    env = dict(os.environ if env is None else env)
    host = env.get("CYCLONE_HOST") or "127.0.0.1"
    port = env.get("CYCLONE_PORT") or "7099"
    smtp = None
    if env.get("CYCLONE_SMTP_HOST"):
        smtp = Smtp(
            host=env["CYCLONE_SMTP_HOST"],
            port=int(env.get("CYCLONE_SMTP_PORT") or 25),
            user=env.get("CYCLONE_SMTP_USER", ""),
            password=env.get("CYCLONE_SMTP_PASSWORD", ""),
            sender=env.get("CYCLONE_SMTP_FROM") or "cyclone@localhost",
            starttls=_flag(env.get("CYCLONE_SMTP_STARTTLS", "")),
        )
    return Delivery(
        public_url=env.get("CYCLONE_PUBLIC_URL") or f"http://{host}:{port}",
        attempts=max(1, int(env.get("CYCLONE_DELIVERY_ATTEMPTS") or 5)),
        retry_base=float(env.get("CYCLONE_DELIVERY_RETRY_BASE") or 5),
        timeout=float(env.get("CYCLONE_DELIVERY_TIMEOUT") or 10),
        smtp=smtp,
    )
