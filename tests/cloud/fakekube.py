"""A fake Kubernetes API server at the HTTP boundary, for the Kubernetes driver's tests.

There is no cluster here, so this threaded HTTP server keeps pods, secrets, resource quotas,
service accounts (`/api/v1`) and RBAC roles and role bindings
(`/apis/rbac.authorization.k8s.io/v1`) in memory and answers with the API's real JSON shapes:
objects with metadata (uid, resourceVersion, creationTimestamp), `PodList`/`SecretList`/
`RoleList`..., `Status` objects for errors (404 NotFound, 409 AlreadyExists, 403 Forbidden
"exceeded quota", 422 Invalid, 401 Unauthorized) and for the deletion of a service account,
role or role binding, and `/version`. Every object created is validated against the Kubernetes
OpenAPI schema (kubernetes-validate, strict), and refused with 422 like an API server would.

RBAC is stored, not enforced on requests; `allows()` evaluates it as the RBAC authorizer
would (Roles bound by RoleBindings of the namespace) for tests to ask who may do what. With
`require_service_accounts`, a pod naming a service account that does not exist is refused
(403), as the ServiceAccount admission plugin does.

Quotas are checked as the quota admission plugin does: the sum over non-terminal pods of a
namespace plus the new pod must fit every `hard` entry (pods, cpu/memory requests and limits),
and a quota on a resource requires every container to declare it.

The "kubelet": with `run_workers` on, a created pod goes Running and its `worker` container's
command runs here as a local process (env from its `env` and `envFrom` Secret, cwd a fresh
folder standing for /workspace); its exit terminates that container, as on a node (the
`builder` container keeps "running"). Otherwise the pod stays Pending until the test sets a
status (`set_status`). Deleting a pod kills its process.

Exec (`pods/<name>/exec`, a websocket with the v4.channel.k8s.io protocol) runs the command
here, as the "container" would, and streams its output on the protocol's channels.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import kubernetes_validate
from kubernetes.utils import parse_quantity

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_VERSION = "1.30"
VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.4",
    "gitCommit": "a51b3b711150f57ffc1f526a640ec058514ed596",
    "gitTreeState": "clean",
    "buildDate": "2024-08-14T19:02:46Z",
    "goVersion": "go1.22.5",
    "compiler": "gc",
    "platform": "linux/amd64",
}
RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_KINDS = ("roles", "rolebindings")  # served under /apis/rbac.authorization.k8s.io/v1
LIST_KINDS = {  # kind -> (apiVersion, kind) of its list
    "serviceaccounts": ("v1", "ServiceAccountList"),
    "roles": (f"{RBAC_GROUP}/v1", "RoleList"),
    "rolebindings": (f"{RBAC_GROUP}/v1", "RoleBindingList"),
}
QUOTA_OF_RESOURCE = {  # hard key -> (requests|limits, resource)
    "requests.cpu": ("requests", "cpu"),
    "cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"),
    "memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"),
    "limits.memory": ("limits", "memory"),
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


class FakeKube:
    """See the module docstring. `token` / `basic` (user, password): the credentials the server
    accepts (none given: anything passes); `tls`: (certfile, keyfile) to serve https."""

    def __init__(
        self,
        *,
        token: str | None = None,
        basic: tuple[str, str] | None = None,
        tls: tuple[str, str] | None = None,
        run_workers: bool = False,
        require_service_accounts: bool = False,
    ) -> None:
        self.token, self.basic, self.tls = token, basic, tls
        self.run_workers = run_workers
        self.require_service_accounts = require_service_accounts
        self.objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {
            "pods": {},
            "secrets": {},
            "resourcequotas": {},
            "serviceaccounts": {},
            "roles": {},
            "rolebindings": {},
        }
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.auth_seen: list[str] = []
        self.created: list[dict[str, Any]] = []  # every pod body accepted, as received
        self.execs: list[dict[str, Any]] = []  # every exec: pod, container, command
        self.lock = threading.RLock()
        self._version = 100
        self._procs: dict[tuple[str, str], subprocess.Popen[bytes]] = {}
        self._tmp = Path(tempfile.mkdtemp(prefix="fakekube-"))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        # polled every 50 ms: stopping returns at once rather than after up to half a second
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeKube:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        with self.lock:
            for key in list(self._procs):
                self._kill(key)

    # --- what tests do ---------------------------------------------------------------------

    def pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.objects["pods"].get((namespace, name))
            return copy.deepcopy(found) if found else None

    def pods(self, namespace: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [
                copy.deepcopy(p)
                for (ns, _), p in self.objects["pods"].items()
                if namespace in (None, ns)
            ]

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.objects["secrets"].get((namespace, name))
            return copy.deepcopy(found) if found else None

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """Any stored object (kind as in the API's paths: "serviceaccounts", "roles", ...)."""
        with self.lock:
            found = self.objects[kind].get((namespace, name))
            return copy.deepcopy(found) if found else None

    def names(self, kind: str, namespace: str | None = None) -> list[str]:
        with self.lock:
            return sorted(n for (ns, n) in self.objects[kind] if namespace in (None, ns))

    def allows(
        self, namespace: str, account: str, verb: str, resource: str, name: str = ""
    ) -> bool:
        """Whether RBAC lets ServiceAccount `account` of `namespace` do `verb` on `resource`
        ("pods", "pods/exec", ...; core group) named `name` there, by the Roles its
        RoleBindings in that namespace grant (ClusterRoles are not stored here)."""
        with self.lock:
            bindings = [b for (ns, _), b in self.objects["rolebindings"].items() if ns == namespace]
            roles = {n: r for (ns, n), r in self.objects["roles"].items() if ns == namespace}
            for binding in bindings:
                subject = {"kind": "ServiceAccount", "name": account, "namespace": namespace}
                if not any(
                    {k: s.get(k) for k in subject} == subject for s in binding.get("subjects", [])
                ):
                    continue
                ref = binding["roleRef"]
                role = roles.get(ref["name"]) if ref["kind"] == "Role" else None
                for rule in (role or {}).get("rules") or []:
                    if (
                        _covers(rule.get("apiGroups"), "")
                        and _covers(rule.get("resources"), resource)
                        and _covers(rule.get("verbs"), verb)
                        and (not rule.get("resourceNames") or name in rule["resourceNames"])
                    ):
                        return True
        return False

    def set_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        with self.lock:
            pod = self.objects["pods"][(namespace, name)]
            pod["status"] = status
            self._touch(pod)

    def add(self, kind: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create an object as another client of the cluster would (quotas apply to pods)."""
        return self._create(kind, namespace, copy.deepcopy(body))

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self._delete(kind, namespace, name)

    # --- the API ---------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                fake.requests.append((method, self.path))
                fake.auth_seen.append(self.headers.get("Authorization") or "")
                try:
                    fake._check_auth(self.headers.get("Authorization") or "")
                    body = json.loads(raw) if raw else None
                    code, answer = fake._route(method, self.path, body)
                except ApiError as exc:
                    code, answer = exc.code, exc.status()
                self._answer(code, answer)

            def do_GET(self) -> None:
                if self.headers.get("Upgrade", "").lower() == "websocket":
                    fake.requests.append(("GET", self.path))
                    fake.auth_seen.append(self.headers.get("Authorization") or "")
                    self.close_connection = True
                    try:  # no auth check: a fake pod's worker has no service account token
                        fake._exec(self)
                    except ApiError as exc:
                        self._answer(exc.code, exc.status())
                    return
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def do_DELETE(self) -> None:
                self._serve("DELETE")

        return Handler

    def _check_auth(self, header: str) -> None:
        allowed = []
        if self.token:
            allowed.append(f"Bearer {self.token}")
        if self.basic:
            allowed.append("Basic " + base64.b64encode(":".join(self.basic).encode()).decode())
        if allowed and header not in allowed:
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        url = urlparse(path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = url.path.strip("/").split("/")
        if url.path.rstrip("/") == "/version" and method == "GET":  # the client asks /version/
            return 200, VERSION
        # /apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/{kind}[/{name}]: served as below
        rbac = ["apis", RBAC_GROUP, "v1", "namespaces"]
        if len(parts) in (6, 7) and parts[:4] == rbac and parts[5] in RBAC_KINDS:
            parts = ["api", "v1", *parts[3:]]
        elif len(parts) > 4 and parts[4] in RBAC_KINDS:
            parts = []  # roles are not under /api/v1
        # /api/v1/namespaces/{ns}/{kind}[/{name}]
        if len(parts) in (5, 6) and parts[:3] == ["api", "v1", "namespaces"]:
            namespace, kind = parts[3], parts[4]
            if kind in self.objects:
                name = parts[5] if len(parts) == 6 else None
                if name is None and method == "GET":
                    return 200, self._list(kind, namespace, query.get("labelSelector", ""))
                if name is None and method == "POST":
                    if not isinstance(body, dict):
                        raise ApiError(400, "BadRequest", "the body is not an object")
                    return 201, self._create(kind, namespace, body)
                if name is not None and method == "GET":
                    return 200, self._get(kind, namespace, name)
                if name is not None and method == "DELETE":
                    return 200, self._delete(kind, namespace, name)
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _list(self, kind: str, namespace: str, selector: str) -> dict[str, Any]:
        wanted = dict(item.split("=", 1) for item in selector.split(",") if item)
        with self.lock:
            items = [
                copy.deepcopy(obj)
                for (ns, _), obj in self.objects[kind].items()
                if ns == namespace
                and wanted.items() <= (obj["metadata"].get("labels") or {}).items()
            ]
            version = str(self._version)
        list_kind = {"pods": "PodList", "secrets": "SecretList"}.get(kind, "ResourceQuotaList")
        api_version, list_kind = LIST_KINDS.get(kind, ("v1", list_kind))
        return {
            "kind": list_kind,
            "apiVersion": api_version,
            "metadata": {"resourceVersion": version},
            "items": items,
        }

    def _get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            found = self.objects[kind].get((namespace, name))
            if found is None:
                raise self._not_found(kind, name)
            return copy.deepcopy(found)

    def _create(self, kind: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        meta = body.setdefault("metadata", {})
        name = meta.get("name") or ""
        if meta.get("namespace", namespace) != namespace:
            raise ApiError(400, "BadRequest", "the namespace of the provided object does not match")
        try:
            kubernetes_validate.validate(body, SCHEMA_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            raise ApiError(
                422, "Invalid", f'{kind} "{name}" is invalid: {where}: {exc.message}'
            ) from exc
        with self.lock:
            if (namespace, name) in self.objects[kind]:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{kind} "{name}" already exists',
                    {"name": name, "kind": kind},
                )
            if kind == "pods":
                self._check_service_account(namespace, name, body)  # admitted in this order
                self._admit(namespace, name, body)
                self.created.append(copy.deepcopy(body))
                body["status"] = {"phase": "Pending", "qosClass": "Burstable"}
                body.setdefault("spec", {}).setdefault("nodeName", "")
            if kind == "resourcequotas":
                body["status"] = {"hard": dict(body["spec"].get("hard") or {})}
            meta.update(
                namespace=namespace,
                uid=str(uuid.uuid4()),
                creationTimestamp=_now(),
            )
            self._touch(body)
            self.objects[kind][(namespace, name)] = body
            answer = copy.deepcopy(body)
        if kind == "pods" and self.run_workers:
            self._run(namespace, name)
        return answer

    def _delete(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        with self.lock:
            found = self.objects[kind].pop((namespace, name), None)
            if found is None:
                raise self._not_found(kind, name)
            if kind == "pods":
                self._kill((namespace, name))
            if kind in LIST_KINDS:  # these answer a deletion with a Status, not the object
                details = {"name": name, "kind": kind, "uid": found["metadata"]["uid"]}
                if kind in RBAC_KINDS:
                    details["group"] = RBAC_GROUP
                return {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": details,
                }
            found["metadata"]["deletionTimestamp"] = _now()
            return found

    def _touch(self, obj: dict[str, Any]) -> None:
        self._version += 1
        obj["metadata"]["resourceVersion"] = str(self._version)

    @staticmethod
    def _not_found(kind: str, name: str) -> ApiError:
        return ApiError(404, "NotFound", f'{kind} "{name}" not found', {"name": name, "kind": kind})

    # --- exec (the websocket channel protocol, v4.channel.k8s.io) ------------------------------

    def _exec(self, handler: BaseHTTPRequestHandler) -> None:
        """Run an exec's command here, as if in the pod's container: stdout on channel 1,
        stderr on 2, then a Status on 3 (ExitCode cause when not 0), then close."""
        url = urlparse(handler.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 7 or parts[:3] != ["api", "v1", "namespaces"] or parts[6] != "exec":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        namespace, name = parts[3], parts[5]
        query = parse_qs(url.query)
        command, container = query.get("command") or [], (query.get("container") or [""])[0]
        with self.lock:
            pod = self.objects["pods"].get((namespace, name))
            if pod is None:
                raise self._not_found("pods", name)
            names = [c["name"] for c in pod["spec"]["containers"]]
        if container not in names:
            raise ApiError(400, "BadRequest", f"container {container} is not valid for pod {name}")
        offered = [
            p.strip() for p in (handler.headers.get("Sec-WebSocket-Protocol") or "").split(",")
        ]
        if "v4.channel.k8s.io" not in offered:
            raise ApiError(400, "BadRequest", "no supported channel protocol offered")
        self.execs.append({"pod": name, "container": container, "command": command})
        key = handler.headers.get("Sec-WebSocket-Key", "")
        magic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        handler.send_response(101, "Switching Protocols")
        handler.send_header("Upgrade", "websocket")
        handler.send_header("Connection", "Upgrade")
        accept = base64.b64encode(hashlib.sha1((key + magic).encode()).digest()).decode()
        handler.send_header("Sec-WebSocket-Accept", accept)
        handler.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
        handler.end_headers()
        handler.wfile.flush()
        send_lock = threading.Lock()

        def send(payload: bytes, opcode: int = 0x2) -> None:
            n = len(payload)
            if n < 126:
                head = bytes([0x80 | opcode, n])
            elif n < 65536:
                head = bytes([0x80 | opcode, 126]) + n.to_bytes(2, "big")
            else:
                head = bytes([0x80 | opcode, 127]) + n.to_bytes(8, "big")
            with send_lock:
                handler.wfile.write(head + payload)
                handler.wfile.flush()

        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )

        def pump(pipe: Any, channel: int) -> None:
            for chunk in iter(lambda: pipe.read1(4096), b""):
                send(bytes([channel]) + chunk)

        pumps = [
            threading.Thread(target=pump, args=(proc.stdout, 1), daemon=True),
            threading.Thread(target=pump, args=(proc.stderr, 2), daemon=True),
        ]
        try:
            for thread in pumps:
                thread.start()
            code = proc.wait()
            for thread in pumps:
                thread.join()
            if code == 0:
                status: dict[str, Any] = {"metadata": {}, "status": "Success"}
            else:
                status = {
                    "metadata": {},
                    "status": "Failure",
                    "message": f"command terminated with non-zero exit code: {code}",
                    "reason": "NonZeroExitCode",
                    "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
                }
            send(bytes([3]) + json.dumps(status).encode())
            send((1000).to_bytes(2, "big"), opcode=0x8)
        except OSError:  # the client went away (an abort): end the command too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    # --- admission: service accounts -----------------------------------------------------------

    def _check_service_account(self, namespace: str, name: str, pod: dict[str, Any]) -> None:
        """As the ServiceAccount admission plugin: the pod's account must exist (`default`
        always does in a real namespace)."""
        account = pod.get("spec", {}).get("serviceAccountName") or "default"
        if not self.require_service_accounts or account == "default":
            return
        if (namespace, account) not in self.objects["serviceaccounts"]:
            raise ApiError(
                403,
                "Forbidden",
                f'pods "{name}" is forbidden: error looking up service account '
                f'{namespace}/{account}: serviceaccount "{account}" not found',
                {"name": name, "kind": "pods"},
            )

    # --- admission: resource quotas ------------------------------------------------------------

    def _admit(self, namespace: str, name: str, pod: dict[str, Any]) -> None:
        containers = pod.get("spec", {}).get("containers", [])
        for (ns, quota_name), quota in self.objects["resourcequotas"].items():
            if ns != namespace:
                continue
            hard = quota["spec"].get("hard") or {}
            missing = [
                key
                for key in hard
                if key in QUOTA_OF_RESOURCE and any(_amount(c, key) is None for c in containers)
            ]
            if missing:
                raise ApiError(
                    403,
                    "Forbidden",
                    f'pods "{name}" is forbidden: failed quota: {quota_name}: must specify '
                    + ",".join(sorted(missing)),
                    {"name": name, "kind": "pods"},
                )
            used = self._used(namespace, hard)
            wanted = {key: _pod_amount(containers, key) for key in hard}
            over = [
                key
                for key, limit in hard.items()
                if used[key] + wanted[key] > parse_quantity(str(limit))
            ]
            if over:
                text = ", ".join(
                    f"{part}: " + ",".join(f"{k}={_fmt(v[k])}" for k in sorted(over))
                    for part, v in (("requested", wanted), ("used", used))
                )
                limited = ",".join(f"{k}={hard[k]}" for k in sorted(over))
                raise ApiError(
                    403,
                    "Forbidden",
                    f'pods "{name}" is forbidden: exceeded quota: {quota_name}, {text}, '
                    f"limited: {limited}",
                    {"name": name, "kind": "pods"},
                )

    def _used(self, namespace: str, hard: dict[str, Any]) -> dict[str, Decimal]:
        used = dict.fromkeys(hard, Decimal(0))
        for (ns, _), pod in self.objects["pods"].items():
            if ns != namespace or pod["status"].get("phase") in ("Succeeded", "Failed"):
                continue
            for key in hard:
                used[key] += _pod_amount(pod["spec"].get("containers", []), key)
        return used

    # --- the "kubelet" -------------------------------------------------------------------------

    def _run(self, namespace: str, name: str) -> None:
        with self.lock:
            pod = self.objects["pods"][(namespace, name)]
            spec = pod["spec"]
            started = _now()
            pod["spec"]["nodeName"] = "fake-node"
            pod["status"] = {
                "phase": "Running",
                "startTime": started,
                "containerStatuses": [
                    _running(c["name"], c["image"], started) for c in spec["containers"]
                ],
            }
            self._touch(pod)
            worker = next((c for c in spec["containers"] if c["name"] == "worker"), None)
            if worker is None:  # not a Cyclone worker: it just "runs"
                return
            env = {k: v for k, v in os.environ.items() if not k.startswith("CYCLONE_")}
            env["PYTHONPATH"] = str(ROOT)
            env["CYCLONE_KUBE_API_URL"] = self.url  # as a kubelet tells pods where the API is
            for source in worker.get("envFrom", []):
                secret = self.objects["secrets"].get((namespace, source["secretRef"]["name"]))
                for key, value in ((secret or {}).get("data") or {}).items():
                    env[key] = base64.b64decode(value).decode()
            for item in worker.get("env", []):
                if "value" in item:
                    env[item["name"]] = item["value"]
                elif "fieldRef" in item.get("valueFrom", {}):
                    field = item["valueFrom"]["fieldRef"]["fieldPath"].split(".")[-1]
                    env[item["name"]] = pod["metadata"][field]
            argv = [*worker.get("command", []), *worker.get("args", [])]
            if argv and argv[0] == "python":
                argv[0] = sys.executable
            workspace = self._tmp / f"{namespace}-{name}-{pod['metadata']['uid']}"
            workspace.mkdir(parents=True)
            log = open(self._tmp / f"{namespace}-{name}.log", "ab")  # noqa: SIM115
            proc = subprocess.Popen(
                argv,
                cwd=workspace,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()
            self._procs[(namespace, name)] = proc
        threading.Thread(target=self._reap, args=(namespace, name, proc), daemon=True).start()

    def _reap(self, namespace: str, name: str, proc: subprocess.Popen[bytes]) -> None:
        code = proc.wait()
        with self.lock:
            pod = self.objects["pods"].get((namespace, name))
            if pod is None or self._procs.get((namespace, name)) is not proc:
                return
            self._procs.pop((namespace, name), None)
            for status in pod["status"]["containerStatuses"]:
                if status["name"] == "worker":
                    started = status["state"]["running"]["startedAt"]
                    status["ready"] = False
                    status["state"] = {
                        "terminated": {
                            "exitCode": code if code >= 0 else 128 - code,
                            "reason": "Completed" if code == 0 else "Error",
                            "startedAt": started,
                            "finishedAt": _now(),
                            "containerID": status["containerID"],
                        }
                    }
            self._touch(pod)

    def _kill(self, key: tuple[str, str]) -> None:
        proc = self._procs.pop(key, None)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def worker_log(self, namespace: str, name: str) -> str:
        path = self._tmp / f"{namespace}-{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _running(name: str, image: str, started: str) -> dict[str, Any]:
    return {
        "name": name,
        "state": {"running": {"startedAt": started}},
        "lastState": {},
        "ready": True,
        "restartCount": 0,
        "image": image,
        "imageID": f"docker-pullable://{image}@sha256:{'0' * 64}",
        "containerID": f"containerd://{uuid.uuid4().hex}",
        "started": True,
    }


def _covers(granted: list[str] | None, wanted: str) -> bool:
    return bool(granted) and ("*" in granted or wanted in granted)


def _amount(container: dict[str, Any], key: str) -> Decimal | None:
    kind, resource = QUOTA_OF_RESOURCE[key]
    value = ((container.get("resources") or {}).get(kind) or {}).get(resource)
    return None if value is None else parse_quantity(str(value))


def _pod_amount(containers: list[dict[str, Any]], key: str) -> Decimal:
    if key == "pods":
        return Decimal(1)
    if key not in QUOTA_OF_RESOURCE:
        return Decimal(0)
    return sum((_amount(c, key) or Decimal(0) for c in containers), Decimal(0))


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f")


def pod_status(
    phase: str,
    *,
    reason: str = "",
    message: str = "",
    worker: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A pod status as the kubelet reports it; `worker` is the worker container's state."""
    status: dict[str, Any] = {"phase": phase, "startTime": _now()}
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    if worker is not None:
        status["containerStatuses"] = [
            {"name": "worker", "state": worker, "ready": False, "restartCount": 0, "image": "w"}
        ]
    return status
