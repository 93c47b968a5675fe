#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, for tests and the chaos bench, beside the
# machine's own broker (5672, untouched): nodes cyclone-a, cyclone-b, cyclone-c @localhost on
# 127.0.0.1 ports 5681-5683 (AMQP) and 25681-25683 (Erlang distribution), data under
# /var/lib/rabbitmq/cyclone-cluster. Debian's rabbitmq-server, run as the rabbitmq user (it
# shares the machine's Erlang cookie, so rabbitmqctl reaches every node).
#
#   tools/rabbit-cluster.sh start            start what is not running, cluster, wait (idempotent)
#   tools/rabbit-cluster.sh stop             stop every node (idempotent)
#   tools/rabbit-cluster.sh status           one line per node: running or stopped
#   tools/rabbit-cluster.sh uri [VHOST]      the failover URI list (';'-separated) for a vhost
#   tools/rabbit-cluster.sh stop-node N      stop one node (a, b or c): what a lost node is
#   tools/rabbit-cluster.sh start-node N     start it again (it rejoins by itself)
#
# As root (it becomes the rabbitmq user). How it was worked out: ../shared/STACK-NOTES.md.
set -euo pipefail

BASE="${CYCLONE_RABBIT_CLUSTER_DIR:-/var/lib/rabbitmq/cyclone-cluster}"
LETTERS=(a b c)
declare -A AMQP=([a]=5681 [b]=5682 [c]=5683)
declare -A DIST=([a]=25681 [b]=25682 [c]=25683)

log() { printf '[rabbit-cluster] %s\n' "$*" >&2; }
node() { printf 'cyclone-%s@localhost' "$1"; }
ctl() { rabbitmqctl -q -n "$(node "$1")" "${@:2}"; }
# The node's VM is up (its RabbitMQ may be paused: with `pause_minority` a node that sees
# itself in a minority stops its app until the others return).
vm_up() { ctl "$1" ping >/dev/null 2>&1; }
running() { ctl "$1" status >/dev/null 2>&1; }

check_letter() {
  case "${1:-}" in a | b | c) ;; *) log "a node is a, b or c, not '${1:-}'"; exit 2 ;; esac
}

prepare() {  # prepare <letter>: the node's folders and files, owned by rabbitmq
  local dir="$BASE/$1"
  mkdir -p "$dir/mnesia" "$dir/log"
  cat >"$dir/node.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:${AMQP[$1]}
loopback_users = none
cluster_partition_handling = pause_minority
EOF
  echo '[].' >"$dir/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$BASE"
}

launch() {  # launch <letter>: start it detached unless it runs (await_startup waits for it)
  local letter=$1 dir="$BASE/$1"
  if vm_up "$letter"; then
    return 0  # running, or paused until its peers are back
  fi
  prepare "$letter"
  rm -f "$dir/pid"  # `rabbitmqctl wait` follows the pid file the new node writes
  log "starting $(node "$letter") on 127.0.0.1:${AMQP[$letter]}"
  # `su` keeps this environment and gives the rabbitmq user's HOME (its Erlang cookie).
  RABBITMQ_NODENAME="$(node "$letter")" \
    RABBITMQ_CONFIG_FILE="$dir/node.conf" \
    RABBITMQ_DIST_PORT="${DIST[$letter]}" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" \
    RABBITMQ_LOG_BASE="$dir/log" \
    RABBITMQ_PID_FILE="$dir/pid" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
    su rabbitmq -s /bin/sh -c "/usr/lib/rabbitmq/bin/rabbitmq-server -detached" \
    >"$dir/log/startup.out" 2>&1
}

# Until the node's VM is up (its pid file) and RabbitMQ in it has started; await_startup alone
# fails while the VM has not yet registered its name.
await_node() { ctl "$1" wait "$BASE/$1/pid" --timeout 300 >/dev/null; }

clustered() {  # clustered <letter>: whether it runs in one cluster with node a
  ctl "$1" cluster_status --formatter json 2>/dev/null |
    python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if sys.argv[1] in d.get("running_nodes", []) else 1)' \
      "$(node a)"
}

cmd_start() {
  command -v rabbitmqctl >/dev/null || { log "rabbitmq-server is not installed"; exit 1; }
  [ "$(id -u)" = 0 ] || { log "run as root (the nodes run as the rabbitmq user)"; exit 1; }
  # All launched before any is waited for: a cluster node that stopped before another waits
  # for that one at boot, whatever order they come back in.
  for letter in "${LETTERS[@]}"; do launch "$letter"; done
  for letter in "${LETTERS[@]}"; do await_node "$letter"; done
  for letter in b c; do
    if ! clustered "$letter"; then
      log "joining $(node "$letter") to $(node a)"
      # the CLI logs the node's own warnings while it joins: kept in a file, shown on failure
      if ! { ctl "$letter" stop_app && ctl "$letter" reset &&
        ctl "$letter" join_cluster "$(node a)" && ctl "$letter" start_app; } \
        >>"$BASE/join.log" 2>&1; then
        tail -n 20 "$BASE/join.log" >&2
        log "$(node "$letter") could not join $(node a)"
        exit 1
      fi
    fi
  done
  for letter in "${LETTERS[@]}"; do
    clustered "$letter" || { log "$(node "$letter") is not in the cluster"; exit 1; }
  done
  log "cluster of $(node a), $(node b), $(node c) ready"
}

cmd_stop() {
  for letter in c b a; do  # node a last: it is the first a later start waits for
    if vm_up "$letter"; then
      log "stopping $(node "$letter")"
      ctl "$letter" stop >/dev/null || true
    fi
  done
}

cmd_status() {
  for letter in "${LETTERS[@]}"; do
    if running "$letter"; then
      state=running
    elif vm_up "$letter"; then
      state=paused
    else
      state=stopped
    fi
    printf '%s 127.0.0.1:%s %s\n' "$(node "$letter")" "${AMQP[$letter]}" "$state"
  done
}

cmd_uri() {  # every node's URL, ';'-separated: kombu's failover form (CYCLONE_AMQP_URI)
  local vhost="${1:-}" sep="" out=""
  for letter in "${LETTERS[@]}"; do
    out="$out${sep}amqp://guest:guest@127.0.0.1:${AMQP[$letter]}/$vhost"
    sep=";"
  done
  printf '%s\n' "$out"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  uri) cmd_uri "${2:-}" ;;
  stop-node)
    check_letter "${2:-}"
    log "stopping $(node "$2")"
    ctl "$2" stop >/dev/null
    ;;
  start-node)
    check_letter "${2:-}"
    launch "$2"
    await_node "$2"
    ;;
  *)
    sed -n '2,14p' "$0" >&2
    exit 2
    ;;
esac
