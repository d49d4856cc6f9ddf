#!/usr/bin/env bash
# A real Disco cluster on this one machine: the real master (built by ../shared/real-master/
# build.sh) and three real Disco nodes, node1..node3, each in its own network and UTS namespace
# with its own hostname, address, /etc/hosts, data directory and DDFS volume.
#
# usage: scripts/cluster.sh up|down|status
#        scripts/cluster.sh run CMD...       run CMD as the cluster's client (see below)
#        scripts/cluster.sh node-down HOST [--for-good]   stop every process of a node (a lost
#                                            machine); --for-good: the master cannot start it
#                                            again until `node-up HOST`
#        scripts/cluster.sh node-up HOST     let the master start it again
#        scripts/cluster.sh logs             print the master's log files
#        scripts/cluster.sh check-logs       fail if the master's logs or job events show a
#                                            worker protocol error
#   VENV=.venv                  the venv whose bin/ comes first on the workers' PATH
#   DISCO_REAL_MASTER=~/.cache/disco-real-master   the build (PREFIX of build.sh); built if absent
#   DISCO_CLUSTER_DIR=/tmp/discoworker-cluster     settings, logs, each host's data (removed by down)
#   CLUSTER_WORKERS=2           workers per node
#
# How it is made (root needed, as `ip netns` is):
# - Network namespaces dwc-master, dwc-node1..3. A bridge lives *inside* dwc-master, with one veth
#   pair per node (10.77.0.1 = master, 10.77.0.1N = nodeN): nothing is added to the root
#   namespace, so the master's :8989 never meets the host's own localhost:8989, and deleting the
#   namespaces deletes every link.
# - /etc/netns/dwc-NAME/hosts names all four hosts; `ip netns exec` binds it over /etc/hosts.
# - Each host's processes run under `unshare --uts` with `hostname NAME` set first: Erlang's
#   -sname takes the host part from gethostname(), and Disco names a node by it.
# - The master is started by the original `disco start` (so `-rsh ssh`, `-sname disco_8989_master`)
#   with $DISCO_CLUSTER_DIR/bin first on its PATH. Its node_mon starts each slave node with OTP's
#   slave:start(Host, ...), which runs `<rsh> Host erl -detached ... -sname disco_8989_slave@Host`
#   through /bin/sh, where <rsh> is os:find_executable("ssh") on the master's PATH. The `ssh`
#   found there is ours (bin/ssh, below): it does what ssh + a remote login shell would do, joins
#   its arguments into one command line and runs it with sh, but inside the named host's network
#   namespace, a fresh UTS namespace with that hostname, and a mount namespace in which the
#   host's own data and DDFS directories are bound over DISCO_DATA and DDFS_DATA (every node gets
#   the same settings from the master, as on a real cluster with the same paths on every
#   machine). The slave's erl starts that host's own epmd, in that host's namespace, so epmd is
#   reachable at nodeN:4369 as Erlang distribution needs; all share root's ~/.erlang.cookie.
#   A real sshd in each namespace would also work, but needs keys, a config and a daemon per
#   host for nothing the test needs; a wrapper that is not `ssh` on PATH is never found, as
#   Disco hard-codes `-rsh ssh`. Because the wrapper is a local process, the slave inherits the
#   master's environment (PATH with VENV/bin first, PYTHONWARNINGS=ignore), which the workers
#   it starts inherit in turn.
# - The node table (three hosts, CLUSTER_WORKERS each) is written to the master's config file
#   before it starts and posted again through /disco/ctrl/save_config_table.
# - The client (the tests, `run`) works in dwc-master's network namespace, where `master` and
#   `nodeN` resolve; its processes end with it.
# - down: `disco stop`, then SIGKILL to every process left in the namespaces (slaves, epmds,
#   workers, heart), then the namespaces (with their links) and /etc/netns entries, then the
#   directory. Mount namespaces end with their last process, so no mount is left. down works
#   on whatever a failed `up` left, and `up` runs it first and again when it fails.
set -euo pipefail
CALLER_DIR=$PWD
cd "$(dirname "$0")/.."
TOP=$PWD
VENV=${VENV:-.venv}
PREFIX=${DISCO_REAL_MASTER:-$HOME/.cache/disco-real-master}
DIR=${DISCO_CLUSTER_DIR:-/tmp/discoworker-cluster}
WORKERS=${CLUSTER_WORKERS:-2}
NODES=(node1 node2 node3)
NET=10.77.0
URL=http://master:8989

say() { echo "[cluster] $*" >&2; }
fail() { echo "cluster FAILED: $*" >&2; exit 1; }
ns() { echo "dwc-$1"; }
addr() { case $1 in master) echo "$NET.1";; node*) echo "$NET.1${1#node}";; esac; }
in_master() { ip netns exec "$(ns master)" "$@"; }

need_root() {
    [ "$(id -u)" = 0 ] || fail "must run as root (ip netns needs it)"
}

install_packages() {
    local missing=() p
    for p in iproute2 util-linux erlang-nox erlang-dev patch curl hostname; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || say "apt-get update failed; trying the install anyway"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || fail "could not install ${missing[*]}"
}

host_pids() { ip netns pids "$(ns "$1")" 2>/dev/null || true; }

kill_host() {  # kill_host NAME: SIGKILL every process in the host's network namespace
    local pids
    for _ in 1 2 3 4 5; do
        pids=$(host_pids "$1")
        [ -n "$pids" ] || return 0
        # shellcheck disable=SC2086
        kill -9 $pids 2>/dev/null || true
        sleep 0.2
    done
    [ -z "$(host_pids "$1")" ] || say "processes still in $(ns "$1"): $(host_pids "$1" | tr '\n' ' ')"
}

down() {
    if [ -e "/run/netns/$(ns master)" ] && [ -f "$DIR/settings.py" ]; then
        say "stopping the master"
        in_master env DISCO_SETTINGS_FILE="$DIR/settings.py" PATH="$PREFIX/venv/bin:$PATH" \
            timeout 20 disco stop >/dev/null 2>&1 || true
    fi
    local h
    for h in master "${NODES[@]}"; do
        kill_host "$h"
        if [ -e "/run/netns/$(ns "$h")" ]; then ip netns del "$(ns "$h")" || say "could not delete $(ns "$h")"; fi
        rm -rf "/etc/netns/$(ns "$h")"
        rmdir /etc/netns 2>/dev/null || true  # only when nothing else uses it
    done
    rm -rf "$DIR"
    say "down: no namespace, link, process or directory of the cluster left"
}

status() {
    local h
    for h in master "${NODES[@]}"; do
        if [ -e "/run/netns/$(ns "$h")" ]; then
            echo "$h: namespace $(ns "$h"), $(addr "$h"), $(host_pids "$h" | wc -l) processes"
        else
            echo "$h: no namespace"
        fi
    done
    if [ -e "/run/netns/$(ns master)" ]; then
        echo "nodeinfo: $(in_master curl -fsS -m 3 "$URL/disco/ctrl/nodeinfo" 2>/dev/null || echo 'master does not answer')"
    fi
}

write_ssh() {
    mkdir -p "$DIR/bin"
    cat > "$DIR/bin/ssh" <<EOF
#!/bin/sh
# The cluster's ssh (see scripts/cluster.sh): "ssh HOST COMMAND..." runs COMMAND, joined into
# one line and run by sh as a remote login shell would, in HOST's namespaces with HOST's data.
host=\$1; shift
case "\$host" in
  node1|node2|node3) ;;
  *) echo "ssh: \$host is not a host of this cluster" >&2; exit 255 ;;
esac
[ -e /run/netns/dwc-\$host ] || { echo "ssh: \$host is down (no namespace dwc-\$host)" >&2; exit 255; }
# scripts/cluster.sh node-down HOST --for-good: the machine does not answer any more.
[ ! -e "$DIR/hosts/\$host/gone" ] || { echo "ssh: connect to host \$host: No route to host" >&2; exit 255; }
exec ip netns exec dwc-\$host unshare --uts sh -c '
  hostname "\$0" &&
  mount --bind "$DIR/hosts/\$0/data" "$DIR/root/data" &&
  mount --bind "$DIR/hosts/\$0/ddfs" "$DIR/root/ddfs" &&
  exec sh -c "\$1"' "\$host" "\$*"
EOF
    chmod +x "$DIR/bin/ssh"
}

up() {
    need_root
    install_packages
    [ -x "$VENV/bin/python" ] || fail "no venv at $VENV (python3 -m venv $VENV && $VENV/bin/pip install -e '.[dev]')"
    VENV=$(cd "$VENV" && pwd)
    if ! [ -x "$PREFIX/venv/bin/disco" ] || ! [ -f "$PREFIX/disco/master/ebin/disco.app" ]; then
        say "building the real master into $PREFIX"
        bash "$TOP/../shared/real-master/build.sh" "$PREFIX" >&2 || fail "build.sh failed"
    fi
    PREFIX=$(cd "$PREFIX" && pwd)
    down 2>/dev/null
    trap 'rc=$?; if [ $rc != 0 ]; then say "up failed (exit $rc): taking down what was made"; down; fi' EXIT

    mkdir -p "$DIR/root/data" "$DIR/root/ddfs" "$DIR/root/log"
    local h i
    for h in master "${NODES[@]}"; do
        ip netns add "$(ns "$h")"
        ip -n "$(ns "$h")" link set lo up
        mkdir -p "/etc/netns/$(ns "$h")" "$DIR/hosts/$h/data" "$DIR/hosts/$h/ddfs"
        {
            echo "127.0.0.1 localhost"
            for i in master "${NODES[@]}"; do echo "$(addr "$i") $i"; done
        } > "/etc/netns/$(ns "$h")/hosts"
    done
    ip -n "$(ns master)" link add dwcbr type bridge
    ip -n "$(ns master)" addr add "$(addr master)/24" dev dwcbr
    ip -n "$(ns master)" link set dwcbr up
    for h in "${NODES[@]}"; do
        ip -n "$(ns master)" link add "v-$h" type veth peer name eth0 netns "$(ns "$h")"
        ip -n "$(ns master)" link set "v-$h" master dwcbr up
        ip -n "$(ns "$h")" addr add "$(addr "$h")/24" dev eth0
        ip -n "$(ns "$h")" link set eth0 up
    done

    cat > "$DIR/settings.py" <<EOF
# written by scripts/cluster.sh
DISCO_HOME = "$PREFIX/disco"
DISCO_MASTER_HOME = "$PREFIX/disco/master"
DISCO_ROOT = "$DIR/root"
DISCO_PORT = 8989
DISCO_MASTER_HOST = "master"
DISCO_USER = "$(id -un)"
DISCO_WORKER_MAX_MEM = "80%"
DDFS_TAG_MIN_REPLICAS = 1
DDFS_TAG_REPLICAS = 2
DDFS_BLOB_REPLICAS = 1
EOF
    local table="[" sep=""
    for h in "${NODES[@]}"; do table+="$sep[\"$h\", \"$WORKERS\"]"; sep=", "; done
    table+="]"
    echo "$table" > "$DIR/root/disco_8989.config"
    write_ssh

    say "starting the master in $(ns master) (workers' PATH first: $VENV/bin)"
    in_master unshare --uts sh -c 'hostname master && exec "$@"' sh \
        env DISCO_SETTINGS_FILE="$DIR/settings.py" PYTHONWARNINGS=ignore \
            PATH="$DIR/bin:$VENV/bin:$PREFIX/venv/bin:$PATH" \
            sh -c "cd '$DIR' && disco start" >&2 || fail "disco start failed (logs in $DIR/root/log)"
    for _ in $(seq 1 60); do
        in_master curl -fsS -m 2 "$URL/disco/version" >/dev/null 2>&1 && break
        sleep 0.5
    done
    in_master curl -fsS -m 5 -X POST -d "$table" "$URL/disco/ctrl/save_config_table" >/dev/null \
        || fail "the master does not answer on $URL (logs in $DIR/root/log)"
    local info=""
    for _ in $(seq 1 120); do
        info=$(in_master curl -fsS -m 2 "$URL/disco/ctrl/nodeinfo" 2>/dev/null || true)
        [ "$(grep -o '"connected": *true' <<<"$info" | wc -l)" = "${#NODES[@]}" ] && break
        sleep 0.5
    done
    [ "$(grep -o '"connected": *true' <<<"$info" | wc -l)" = "${#NODES[@]}" ] \
        || fail "not every node connected: $info (logs in $DIR/root/log)"
    trap - EXIT
    say "up: master at $URL ($(addr master)), nodes ${NODES[*]}, $WORKERS workers each"
    say "run the suite: scripts/cluster.sh run python -m pytest tests/cluster"
}

case "${1:-}" in
    up) up ;;
    down) need_root; down ;;
    status) status ;;
    run)
        shift
        [ -e "/run/netns/$(ns master)" ] || fail "no cluster (scripts/cluster.sh up)"
        VENV=$(cd "$VENV" && pwd)
        cd "$CALLER_DIR"
        exec ip netns exec "$(ns master)" env DISCO_CLUSTER_MASTER="$URL" \
            DISCO_CLUSTER_NODE_DOWN="$TOP/scripts/cluster.sh node-down {host}" \
            DISCO_CLUSTER_LOGS="$DIR/root/log" DISCO_REAL_MASTER="$PREFIX" \
            PATH="$VENV/bin:$PATH" "$@" ;;
    node-down)
        [ -n "${2:-}" ] || fail "usage: scripts/cluster.sh node-down HOST [--for-good]"
        [ -d "$DIR/hosts/$2" ] || fail "$2 is not a host of the cluster"
        if [ "${3:-}" = --for-good ]; then touch "$DIR/hosts/$2/gone"; fi
        kill_host "$2"; say "$2: every process stopped${3:+, and the master cannot start it again (node-up $2)}" ;;
    node-up)
        [ -d "$DIR/hosts/${2:-}" ] || fail "usage: scripts/cluster.sh node-up HOST"
        rm -f "$DIR/hosts/$2/gone"; say "$2: the master may start it again" ;;
    logs) cat "$DIR"/root/log/*.log ;;
    check-logs)
        # The master's logs and the events of every job it still holds: a worker that broke the
        # protocol shows there as one of these (disco_worker.erl, worker_runtime.erl,
        # worker_throttle.erl, event_server.erl).
        [ -d "$DIR/root/log" ] || fail "no cluster logs at $DIR/root/log"
        if grep -rn -e "Could not parse worker event" -e "Unknown message" -e "behaving badly" \
               "$DIR/root/log" "$DIR/root/data/_disco_8989" >&2; then
            fail "worker protocol errors in the cluster's logs (above)"
        fi
        say "no worker protocol error in the cluster's logs" ;;
    *) echo "usage: scripts/cluster.sh up|down|status|run CMD...|node-down HOST|node-up HOST|logs|check-logs" >&2
       exit 2 ;;
esac
