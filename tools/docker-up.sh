#!/usr/bin/env bash
# Start what the Docker cloud's tests need on this host, and leave it running (idempotent):
#   - a Docker engine (Debian's docker.io; overlay2 storage where the kernel and the disk allow
#     it, vfs otherwise; no iptables, no default bridge),
#   - a registry on 127.0.0.1:5000 (Debian's docker-registry) with htpasswd auth for the
#     user in $CYCLONE_TEST_REGISTRY_USER / $CYCLONE_TEST_REGISTRY_PASSWORD,
#   - the small images the tests use, made offline (no public registry is reachable):
#     cyclone-test/busybox: a busybox-static rootfs made with `docker import`;
#     cyclone-test/sonar-scanner: a stand-in scanner on it (tools/images/sonar-scanner).
# Installs nothing itself (.ci/run does); run as root.
set -euo pipefail

log() { printf '[docker-up] %s\n' "$*"; }
STATE=${CYCLONE_DOCKER_STATE:-/var/lib/cyclone-test}
REG_USER=${CYCLONE_TEST_REGISTRY_USER:-cyclone}
REG_PASSWORD=${CYCLONE_TEST_REGISTRY_PASSWORD:-cyclone-registry}
mkdir -p "$STATE"

# overlay2 first: on this machine it makes a busybox container in 30-50 ms where vfs, which
# copies the whole image per container, takes 600-800 ms (docs/architecture.md, "The Docker
# cloud's engine"). vfs works on any disk, overlay2 not on every one (not over overlayfs, say):
# dockerd refuses to start with a driver its data root cannot hold, and the next one is tried.
# CYCLONE_DOCKER_STORAGE names the one to use.
start_dockerd() {
  log "starting dockerd ($1)"
  nohup dockerd --storage-driver="$1" --iptables=false --bridge=none \
    >"$STATE/dockerd.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  log "dockerd ($1) did not start:"; tail -5 "$STATE/dockerd.log"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  return 1
}
if ! docker info >/dev/null 2>&1; then
  started=
  for driver in ${CYCLONE_DOCKER_STORAGE:-overlay2 vfs}; do
    if start_dockerd "$driver"; then started=$driver; break; fi
  done
  [ -n "$started" ] || { log "no storage driver worked"; exit 1; }
fi
log "docker engine $(docker version --format '{{.Server.Version}}'), storage $(docker info --format '{{.Driver}}')"

if ! (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null; then
  log "starting a registry on 127.0.0.1:5000"
  mkdir -p "$STATE/registry"
  htpasswd -Bbc "$STATE/registry/htpasswd" "$REG_USER" "$REG_PASSWORD" >/dev/null 2>&1
  cat >"$STATE/registry/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
auth:
  htpasswd:
    realm: cyclone-test
    path: $STATE/registry/htpasswd
YAML
  nohup docker-registry serve "$STATE/registry/config.yml" >"$STATE/registry.log" 2>&1 &
  for _ in $(seq 1 40); do (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null && break; sleep 0.25; done
  (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null || { log "registry did not start:"; tail -20 "$STATE/registry.log"; exit 1; }
fi

if ! docker image inspect cyclone-test/busybox:latest >/dev/null 2>&1; then
  log "making cyclone-test/busybox with docker import"
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
  chmod 1777 "$root/tmp"
  cp "$(command -v busybox)" "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"
  echo 'cyclone-test/busybox' >"$root/etc/cyclone-image"  # proves a command ran in the image
  tar -C "$root" -cf - . | docker import -c 'ENV PATH=/bin' - cyclone-test/busybox:latest >/dev/null
  rm -rf "$root"
fi
if ! docker image inspect cyclone-test/sonar-scanner:latest >/dev/null 2>&1; then
  log "building cyclone-test/sonar-scanner (a stand-in scanner for the codeScan tests)"
  docker build -q -t cyclone-test/sonar-scanner:latest "$(dirname "$0")/images/sonar-scanner" >/dev/null
fi
log "ready"
