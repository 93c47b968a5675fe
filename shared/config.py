"""Typed settings read once from CYCLONE_* environment variables.

Every process (gateway, nameko services, the launcher) reads the same variables, so one
environment describes one stack; two stacks differ only in their variables.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from shared import brokers
from shared.envvars import Env, SettingError

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_PORT = 7099
DEFAULT_DATA_DIR = ".cyclone"


def _seconds_list(env: Env, name: str) -> tuple[float, ...]:
    raw = env.text(name)
    if not raw:
        return ()
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError as exc:
        raise SystemExit(f"{name} must be seconds separated by commas, got {raw!r}") from exc
    if not all(0 < v <= 3600 for v in values):
        raise SystemExit(f"{name}: each delay must be more than 0 and at most 3600 s")
    return values


MAX_REPLICAS = 16


def replicas(raw: str, allowed: tuple[str, ...]) -> dict[str, int]:
    """`CYCLONE_REPLICAS`, e.g. "scheduler=2,logs=2": processes per service (1 when unnamed)."""
    counts = dict.fromkeys(allowed, 1)
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        name, _, count = part.partition("=")
        name = name.strip()
        if name not in allowed:
            raise SystemExit(f"CYCLONE_REPLICAS: {name!r} is not one of {', '.join(allowed)}")
        try:
            counts[name] = int(count)
        except ValueError:
            raise SystemExit(f"CYCLONE_REPLICAS: {part!r} is not NAME=COUNT") from None
        if not 1 <= counts[name] <= MAX_REPLICAS:
            raise SystemExit(f"CYCLONE_REPLICAS: {name} must have 1 to {MAX_REPLICAS} processes")
    return counts


@dataclass(frozen=True)
class Settings:
    port: int
    data_dir: Path
    amqp_uri: str
    mongo_url: str
    api_token: str
    secret_key: str
    api_workers: int
    rpc_timeout: float
    scm_verify: bool = True  # project writes check SCM credentials against the SCM
    public_url: str = ""  # where SCMs reach the gateway; webhooks are registered when set
    workspaces: Path | None = None  # the Local cloud's workspaces; None: data_dir/workspaces
    retry_delays: tuple[float, ...] = ()  # a failed event's delays; empty: shared/redelivery's
    replica: int = 1  # which process of its service this is (the launcher's CYCLONE_REPLICA)
    quorum_queues: bool = False  # durable queues replicated over the nodes (shared/brokers.py)
    worker_nice: int = 10  # a worker's niceness and its session's (services/worker/main.py)

    @property
    def mongo_db(self) -> str:
        """The database named in the URL path, `cyclone` when the URL names none."""
        path = urlsplit(self.mongo_url).path.strip("/")
        return path or "cyclone"

    def nameko_config(self) -> dict[str, object]:
        return {
            "AMQP_URI": self.amqp_uri,
            "serializer": "json",
            "max_workers": 20,
            "parent_calls_tracked": 10,
            "RETRY_DELAYS": list(self.retry_delays),
            brokers.QUORUM_CONFIG_KEY: self.quorum_queues,
        }


# k8s/config.yaml ships these as placeholders: a stack started with one would be open to
# anyone who read the manifests, so no process starts with them.
PLACEHOLDER_PREFIX = "replace-me"
SECRET_SETTINGS = (
    "CYCLONE_API_TOKEN",
    "CYCLONE_SECRET_KEY",
    "CYCLONE_AMQP_URI",
    "CYCLONE_MONGO_URL",
    "CYCLONE_KUBE_WORKER_AMQP_URI",
)


def placeholder_problem(env: dict[str, str]) -> str | None:
    """Which setting still holds a placeholder of the shipped manifests, if any."""
    for name in SECRET_SETTINGS:
        if PLACEHOLDER_PREFIX in env.get(name, ""):
            return f"{name} still holds a placeholder ({PLACEHOLDER_PREFIX}...): set a real value"
    return None


def load(env: dict[str, str] | None = None) -> Settings:
    """Read settings; values the launcher generates (token, key, Mongo URL) must be set by then.
    Refuses (SystemExit) the placeholder secrets of k8s/config.yaml."""
    raw = dict(os.environ if env is None else env)
    if problem := placeholder_problem(raw):
        raise SystemExit(f"cyclone: refusing to start: {problem}")
    read = Env(raw)
    amqp_uri = read.text("CYCLONE_AMQP_URI", DEFAULT_AMQP_URI)
    workspaces = read.text("CYCLONE_WORKSPACES")
    return Settings(
        port=read.integer("CYCLONE_PORT", DEFAULT_PORT),
        data_dir=Path(read.text("CYCLONE_DATA_DIR", DEFAULT_DATA_DIR)).resolve(),
        amqp_uri=amqp_uri,
        quorum_queues=brokers.quorum_wanted(raw, amqp_uri),
        mongo_url=with_secantus_options(read.text("CYCLONE_MONGO_URL")),
        api_token=read.text("CYCLONE_API_TOKEN"),
        secret_key=read.text("CYCLONE_SECRET_KEY"),
        api_workers=read.integer("CYCLONE_API_WORKERS", 1),
        rpc_timeout=read.number("CYCLONE_RPC_TIMEOUT", 10),
        scm_verify=read.flag("CYCLONE_SCM_VERIFY", True),
        public_url=read.text("CYCLONE_PUBLIC_URL").rstrip("/"),
        retry_delays=_seconds_list(read, "CYCLONE_RETRY_DELAYS"),
        replica=max(1, read.integer("CYCLONE_REPLICA", 1)),
        workspaces=Path(workspaces).resolve() if workspaces else None,
        worker_nice=_niceness(read, "CYCLONE_WORKER_NICE", 10),
    )


def _niceness(read: Env, name: str, default: int) -> int:
    """A niceness a process may give itself: 0 (unchanged) to 19, the lowest priority."""
    value = read.integer(name, default)
    if not 0 <= value <= 19:
        raise SettingError(f"{name} must be 0 to 19, got {value}")
    return value


def with_secantus_options(url: str) -> str:
    """Turn off retryable writes unless the URL says otherwise.

    NOTE: the embedded secantusdb slows from ~2k to ~130 inserts/s with pymongo's default
    retryable writes (STACK-NOTES); real MongoDB does not care either way.
    """
    if not url or "retryWrites" in url:
        return url
    return (
        url + ("&" if "?" in url else ("?" if urlsplit(url).path else "/?")) + "retryWrites=false"
    )
