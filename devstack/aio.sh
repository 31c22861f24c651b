#!/usr/bin/env bash
# Storlets all-in-one: Swift + the storlets filter + the Docker sandbox on one host.
#
#   devstack/aio.sh up       install, configure and (re)start everything, run a storlet
#   devstack/aio.sh test     up (quietly), then pytest tests/unit tests/functional [ARGS]
#   devstack/aio.sh down     stop what `up` started (by pid), remove sandbox containers
#   devstack/aio.sh status   what runs, by pid, node by node
#   devstack/aio.sh stop-node N / start-node N   take storage node N down / back
#
# Run as root on Debian 12. A small real cluster: three storage nodes on
# 127.0.0.2-4 (node N: object, container and account servers on ports 62N0,
# 62N1, 62N2, its own devices, logs in $LOG_DIR/nodeN, storlet gateway
# /etc/swift/nodeN/storlet-docker-gateway.conf with its own code cache and
# sandboxes under /var/lib/storlets/nodeN); proxies on 127.0.0.1 (gateway
# /etc/swift/storlet-docker-gateway.conf, /var/lib/storlets/proxy).
# Proxy: http://127.0.0.1:8080 (tempauth test:tester/testing);
# a second proxy with at-rest encryption on http://127.0.0.1:8081 (same users);
# Keystone on http://127.0.0.1:5000/v3 and a third proxy authenticating with it
# on http://127.0.0.1:8085 (devstack/lib/keystone.sh; Keystone venv in
# /opt/storlets/keystone-venv, configs in /etc/keystone).
# Storage policies: "gold" (0, 3 replicas, default) and "ec" (1, erasure coded 2+1).
# Configs in /etc/swift, data in /srv/storlets-aio, logs in /var/log/storlets-aio,
# pid files in /var/run/storlets-aio, venv in /opt/storlets/venv.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=devstack/lib/common.sh
. "$HERE/lib/common.sh"
# shellcheck source=devstack/lib/swift.sh
. "$HERE/lib/swift.sh"

# Bump to force a venv reinstall on every machine.
AIO_VERSION=1

VENV=/opt/storlets/venv
RUN_DIR=/var/run/storlets-aio
LOG_DIR=$AIO_LOG_DIR
CACHE_DIR=/var/cache/storlets-aio
DATA_ROOT=/srv/storlets-aio/node
# Swift's devices live on XFS in a loopback image (as in Swift's own
# all-in-one guide): ext4 keeps a file's extended attributes in about one
# block, too small for the user metadata Swift allows on an object.
DATA_IMAGE=/srv/storlets-aio/node.xfs
DATA_IMAGE_SIZE=${STORLETS_AIO_DATA_SIZE:-16G}
SWIFT_DIR=/etc/swift
GATEWAY_CONF=$SWIFT_DIR/storlet-docker-gateway.conf
INTERNAL_CLIENT_CONF=$SWIFT_DIR/internal-client.conf
HOST_ROOT=/var/lib/storlets
PROXY_HOST_ROOT=$HOST_ROOT/proxy
PROXY_URL=http://127.0.0.1:8080
AUTH_URL=$PROXY_URL/auth/v1.0
ENC_PROXY_URL=http://127.0.0.1:8081
ENC_PROXY_CONF=$SWIFT_DIR/proxy-server-encrypted.conf
# Generated once; objects written through the encrypted proxy need it forever.
ENCRYPTION_SECRET_FILE=$SWIFT_DIR/encryption-root-secret
EC_POLICY=ec
# pyeclib backends for the EC policy, by preference; the first that works in
# the venv (pyeclib's wheel bundles liberasurecode and ISA-L) is used.
EC_TYPE_CANDIDATES=(liberasurecode_rs_vand isa_l_rs_vand)
AIO_USER=test:tester
AIO_KEY=testing
SAMPLE_STORLET=${STORLETS_AIO_SAMPLE_STORLET:-$REPO_ROOT/tests/functional/storlets/identity.py}

APT_PACKAGES=(docker.io debootstrap memcached shellcheck python3 python3-venv curl ca-certificates
    debian-archive-keyring gpgv wget util-linux xfsprogs)
# Java storlets (the Java image layer, the API jar, the samples): on unless
# STORLETS_AIO_JAVA=0, which keeps the all-in-one Python-only and its image small.
AIO_JAVA=${STORLETS_AIO_JAVA:-1}
JAVA_APT_PACKAGES=(default-jdk-headless gcc libc6-dev)
# The account whose sandboxes use an operator image with extra packages
# (build-image.sh --packages), for the per-account image tests.
CUSTOM_IMAGE_ACCOUNT=AUTH_test4
CUSTOM_IMAGE_PACKAGES=jq
# mypy (pinned: a new release may check more) type-checks in the unit tests.
PIP_PACKAGES=(swift python-swiftclient pytest hypothesis boto3 mypy==2.4.1 matplotlib)
# shellcheck source=devstack/lib/keystone.sh
. "$HERE/lib/keystone.sh"
APT_PACKAGES+=("${KEYSTONE_APT_PACKAGES[@]}")
PIP_PACKAGES+=("${KEYSTONE_SWIFT_PIP_PACKAGES[@]}")

# name|program|config|address:port, in start order: each storage node's
# servers (named KIND-server-N), then the proxies.
SERVERS=()
for _n in "${STORAGE_NODES[@]}"; do
    for _kind in account container object; do
        SERVERS+=("$_kind-server-$_n|swift-$_kind-server|$(node_conf_dir "$_n")/$_kind-server.conf|$(node_ip "$_n"):$(node_port "$_n" "$_kind")")
    done
done
unset _n _kind
SERVERS+=(
    "proxy-server|swift-proxy-server|$SWIFT_DIR/proxy-server.conf|127.0.0.1:8080"
    "proxy-server-encrypted|swift-proxy-server|$ENC_PROXY_CONF|127.0.0.1:8081"
    "proxy-server-keystone|swift-proxy-server|$KEYSTONE_PROXY_CONF|127.0.0.1:$KEYSTONE_PROXY_PORT"
)

# server_log NAME: a storage node's servers log into the node's directory.
server_log() {
    if [[ $1 =~ ^([a-z]+-server)-([0-9]+)$ ]]; then
        printf '%s/node%s/%s.log\n' "$LOG_DIR" "${BASH_REMATCH[2]}" "${BASH_REMATCH[1]}"
    else
        printf '%s/%s.log\n' "$LOG_DIR" "$1"
    fi
}

usage() {
    cat <<'USAGE'
usage: devstack/aio.sh up|test [PYTEST ARGS...]|down|status|stop-node N|start-node N|restart-server NAME|ensure-docker

  up      install packages and the venv, build/reuse the sandbox image, write Swift
          configs and rings, (re)start the servers, then run a sample storlet
  test    up (quietly), then run the unit and functional tests with pytest;
          extra arguments go to pytest (test paths among them replace the defaults)
  down    stop the servers, memcached and dockerd if this script started them,
          remove storlet sandbox containers; data and images stay
  status  show what runs, by pid, node by node
  stop-node N / start-node N
          stop storage node N's servers and sandboxes / start them again
  restart-server NAME
          restart one server (e.g. object-server-1); takes no lock (fault tests)
  ensure-docker
          start dockerd if it does not answer; takes no lock (fault tests)
USAGE
}

# ---------------------------------------------------------------- processes

pidfile() { printf '%s/%s.pid\n' "$RUN_DIR" "$1"; }

# running_pid NAME PATTERN: print the pid from NAME's pid file if that process
# is alive and its command line contains PATTERN; else fail.
running_pid() {
    local file pid
    file=$(pidfile "$1")
    [[ -s $file ]] || return 1
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2" || return 1
    printf '%s\n' "$pid"
}

# start_daemon NAME LOGFILE CMD...: start CMD in its own session, detached,
# output appended to LOGFILE; its pid goes to NAME's pid file.
start_daemon() {
    local name=$1 logfile=$2 file
    shift 2
    file=$(pidfile "$name")
    rm -f "$file"
    if [[ -f $logfile ]] && (($(stat -c %s "$logfile") > 50 * 1024 * 1024)); then
        mv -f "$logfile" "$logfile.1"
    fi
    printf '==== %s: starting %s\n' "$(date '+%F %T')" "$*" >>"$logfile"
    # The lock fd (9) must not leak into daemons, or they would hold the lock.
    # shellcheck disable=SC2016  # $$ and $@ are for the inner shell
    setsid bash -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$file" "$@" \
        >>"$logfile" 2>&1 </dev/null 9>&- &
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s $file ]] && return 0
        sleep 0.1
    done
    die "$name did not start (no pid file $file); see $logfile"
}

# stop_daemons TIMEOUT NAME=PATTERN...: SIGTERM each recorded pid (all at
# once), wait until each process group is gone, SIGKILL the group of any still
# there after TIMEOUT seconds (each daemon leads its own session); remove the
# pid files.
stop_daemons() {
    local timeout=$1 spec name pid i
    shift
    local pids=()
    for spec in "$@"; do
        name=${spec%%=*}
        if pid=$(running_pid "$name" "${spec#*=}"); then
            log "  stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    for pid in "${pids[@]}"; do
        for ((i = 0; i < timeout * 10; i++)); do
            kill -0 -- "-$pid" 2>/dev/null || kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 -- "-$pid" 2>/dev/null || kill -0 "$pid" 2>/dev/null; then
            warn "pid $pid did not stop in ${timeout}s; killing its process group"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    done
    for spec in "$@"; do
        rm -f "$(pidfile "${spec%%=*}")"
    done
}

# port_open [ADDRESS:]PORT (address 127.0.0.1 by default)
port_open() {
    local addr=$1
    [[ $addr == *:* ]] || addr=127.0.0.1:$addr
    timeout 2 bash -c ">/dev/tcp/${addr%:*}/${addr##*:}" 2>/dev/null
}

acquire_lock() {
    mkdir -p "$RUN_DIR"
    exec 9>"$RUN_DIR/aio.lock"
    if ! flock -n 9; then
        log "another devstack/aio.sh is running; waiting for it (up to 30 min)..."
        flock -w 1800 9 || die "timed out waiting for the other devstack/aio.sh"
    fi
}

# ---------------------------------------------------------------- install

ensure_packages() {
    local pkgs=("${APT_PACKAGES[@]}") missing=() p
    if [[ $AIO_JAVA == 1 ]]; then
        pkgs+=("${JAVA_APT_PACKAGES[@]}")
    fi
    # Docker needs apparmor_parser when the kernel enforces AppArmor.
    if [[ $(cat /sys/module/apparmor/parameters/enabled 2>/dev/null || true) == Y ]]; then
        pkgs+=(apparmor)
    fi
    for p in "${pkgs[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if ((${#missing[@]} == 0)); then
        log "apt packages present (${pkgs[*]})"
        return
    fi
    log "installing apt packages: ${missing[*]} (~1-3 min)..."
    export DEBIAN_FRONTEND=noninteractive
    # Wait for the dpkg lock rather than fail (fresh VMs run unattended-upgrades).
    local wait_lock=(-o DPkg::Lock::Timeout=600)
    run_long "$LOG_DIR/apt.log" "apt-get update" apt-get "${wait_lock[@]}" update
    run_long "$LOG_DIR/apt.log" "apt-get install" \
        apt-get "${wait_lock[@]}" install -y --no-install-recommends "${missing[@]}"
}

venv_stamp() {
    local f
    {
        printf 'aio=%s\nrepo=%s\npip=%s\n' "$AIO_VERSION" "$REPO_ROOT" "${PIP_PACKAGES[*]}"
        "$VENV/bin/python" -c 'import sys; print(sys.version)'
        for f in setup.cfg setup.py pyproject.toml; do
            if [[ -f $REPO_ROOT/$f ]]; then
                printf '%s ' "$f"
                sha256sum <"$REPO_ROOT/$f"
            fi
        done
    } | sha256sum | cut -d' ' -f1
}

# True when the venv has the paste filter the Swift configs load.
venv_has_filter() {
    "$VENV/bin/python" "$HERE/tools/aio_checks.py" paste-filter
}

ensure_venv() {
    ensure_python_venv "$VENV"
    local stamp_file=$VENV/.storlets-aio-stamp stamp
    stamp=$(venv_stamp)
    # A fresh checkout at the same path has no egg-info yet: the stamp alone
    # would call an editable install complete that no longer is.
    if [[ -f $stamp_file && $(<"$stamp_file") == "$stamp" ]] && venv_has_filter; then
        log "venv $VENV is up to date"
    else
        local args=("${PIP_PACKAGES[@]}")
        if [[ -f $REPO_ROOT/setup.cfg || -f $REPO_ROOT/pyproject.toml || -f $REPO_ROOT/setup.py ]]; then
            args+=(-e "$REPO_ROOT")
        else
            warn "no setup.cfg in $REPO_ROOT: the storlets package is not installed"
        fi
        log "installing into $VENV: ${args[*]} (~1 min)..."
        rm -f "$stamp_file"
        run_long "$LOG_DIR/pip.log" "pip install" \
            "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input "${args[@]}"
        printf '%s\n' "$stamp" >"$stamp_file"
    fi
    # Fail early and clearly if the paste entry point the configs use is missing.
    if ! venv_has_filter; then
        die "the venv has no paste filter 'egg:storlets#storlet_handler' (is the storlets package's setup.cfg complete?); the Swift servers cannot load their pipelines"
    fi
}

ensure_docker() {
    local pid
    if timeout 20 docker info >/dev/null 2>&1; then
        if pid=$(running_pid dockerd dockerd); then
            log "dockerd is running (started by aio.sh, pid $pid)"
        elif [[ -f $RUN_DIR/dockerd.systemd ]]; then
            log "dockerd is running (started by aio.sh through systemd)"
        else
            log "dockerd is running (not started by aio.sh; leaving it alone)"
        fi
        return
    fi
    rm -f "$(pidfile dockerd)"
    if [[ -d /run/systemd/system ]] && systemctl cat docker.service >/dev/null 2>&1; then
        log "starting dockerd (systemctl start docker)"
        systemctl start docker
        touch "$RUN_DIR/dockerd.systemd"
    else
        log "starting dockerd (log: $LOG_DIR/dockerd.log)"
        start_daemon dockerd "$LOG_DIR/dockerd.log" dockerd
    fi
    local i
    for ((i = 0; i < 60; i++)); do
        timeout 5 docker info >/dev/null 2>&1 && {
            log "  dockerd is up"
            return
        }
        if [[ -s $(pidfile dockerd) ]] && ! running_pid dockerd dockerd >/dev/null; then
            show_tail "$LOG_DIR/dockerd.log" 30
            die "dockerd exited"
        fi
        sleep 1
    done
    show_tail "$LOG_DIR/dockerd.log" 30
    die "dockerd did not answer within 60s"
}

ensure_memcached() {
    local pid
    if port_open 11211; then
        if pid=$(running_pid memcached memcached); then
            log "memcached is running on 127.0.0.1:11211 (started by aio.sh, pid $pid)"
        else
            log "memcached is running on 127.0.0.1:11211 (not started by aio.sh)"
        fi
        return
    fi
    local user=memcache
    id -u "$user" >/dev/null 2>&1 || user=nobody
    log "starting memcached on 127.0.0.1:11211 (log: $LOG_DIR/memcached.log)"
    start_daemon memcached "$LOG_DIR/memcached.log" \
        memcached -u "$user" -l 127.0.0.1 -p 11211 -m 64 -U 0
    local i
    for ((i = 0; i < 50; i++)); do
        port_open 11211 && return
        sleep 0.2
    done
    show_tail "$LOG_DIR/memcached.log" 20
    die "memcached did not start"
}

# ensure_data_fs: $DATA_ROOT is an XFS file system in the sparse image
# $DATA_IMAGE, mounted through a loop device. Made once; remounted after a
# reboot. Whatever lay in $DATA_ROOT before (an older all-in-one's devices on
# the host's file system) is removed: the Swift servers are restarted and the
# accounts recreated by this same `up`.
ensure_data_fs() {
    if mountpoint -q "$DATA_ROOT"; then
        [[ $(findmnt -n -o FSTYPE "$DATA_ROOT") == xfs ]] ||
            die "$DATA_ROOT is a mount point but not XFS; unmount it first"
        return
    fi
    mkdir -p "$DATA_ROOT"
    if [[ ! -f $DATA_IMAGE ]] || ! blkid -p -n xfs "$DATA_IMAGE" >/dev/null 2>&1; then
        log "making the devices' XFS file system: $DATA_IMAGE ($DATA_IMAGE_SIZE, sparse)"
        rm -f "$DATA_IMAGE"
        truncate -s "$DATA_IMAGE_SIZE" "$DATA_IMAGE"
        mkfs.xfs -q "$DATA_IMAGE" || die "mkfs.xfs $DATA_IMAGE failed"
    fi
    if [[ -n $(ls -A "$DATA_ROOT") ]]; then
        log "removing the old devices in $DATA_ROOT (they move onto XFS)"
        stop_swift
        find "$DATA_ROOT" -mindepth 1 -delete
    fi
    mount -o loop,noatime "$DATA_IMAGE" "$DATA_ROOT" ||
        die "cannot mount $DATA_IMAGE on $DATA_ROOT (loop devices needed)"
    log "devices on XFS: $DATA_IMAGE mounted on $DATA_ROOT"
}

# remove_single_node_layout: what an all-in-one from before the storage
# nodes left (devices in $DATA_ROOT, one host_root for every server, one
# config per server); its sandboxes go in remove_stale_sandboxes.
remove_single_node_layout() {
    local old found=()
    for old in "$DATA_ROOT"/object[123] "$DATA_ROOT"/container1 "$DATA_ROOT"/account1 \
        "$HOST_ROOT"/{cache,run,usage,versions,locks,trash} "$SWIFT_DIR/object-server" \
        "$SWIFT_DIR"/{account,container}-server.conf; do
        [[ -e $old ]] && found+=("$old")
    done
    ((${#found[@]})) || return 0
    log "removing the single-node layout of an older all-in-one: ${found[*]}"
    stop_swift
    rm -rf "${found[@]}"
}

prepare_dirs() {
    local n
    mkdir -p "$RUN_DIR" "$LOG_DIR" "$HOST_ROOT" "$PROXY_HOST_ROOT"
    ensure_data_fs
    remove_single_node_layout
    for n in "${STORAGE_NODES[@]}"; do
        mkdir -p "$(node_devices "$n")/d$n" "$LOG_DIR/node$n" "$CACHE_DIR/recon/node$n" \
            "$(node_host_root "$n")" "$(node_conf_dir "$n")"
    done
    if ! "$VENV/bin/python" "$HERE/tools/aio_checks.py" xattr "$DATA_ROOT"; then
        die "the filesystem holding $DATA_ROOT does not support user extended attributes (user.* xattrs), which Swift needs to store objects; use ext4/xfs (mounted with user_xattr) for /srv"
    fi
    log "data dirs under $DATA_ROOT support user xattrs"
}

# ---------------------------------------------------------------- swift

# Sets EC_TYPE to the first of EC_TYPE_CANDIDATES that encodes and decodes
# with the venv's pyeclib.
choose_ec_type() {
    local out rc=0
    out=$("$VENV/bin/python" "$HERE/tools/aio_checks.py" ec-type \
        "${EC_TYPE_CANDIDATES[@]}" 2>&1) || rc=$?
    if ((rc != 0)) || [[ $(tail -n1 <<<"$out") != "OK "* ]]; then
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        die "no erasure-coding backend of (${EC_TYPE_CANDIDATES[*]}) works with the venv's pyeclib"
    fi
    EC_TYPE=$(tail -n1 <<<"$out")
    EC_TYPE=${EC_TYPE#OK }
    log "EC policy '$EC_POLICY': pyeclib backend $EC_TYPE (2 data + 1 parity fragments)"
}

# Sets ENCRYPTION_SECRET from ENCRYPTION_SECRET_FILE, creating that file (32
# random bytes, base64) on the first run only.
ensure_encryption_secret() {
    if [[ ! -s $ENCRYPTION_SECRET_FILE ]]; then
        log "generating the encryption root secret $ENCRYPTION_SECRET_FILE (kept across runs)"
        (
            umask 077
            head -c 32 /dev/urandom | base64 -w0 >"$ENCRYPTION_SECRET_FILE.tmp"
            echo >>"$ENCRYPTION_SECRET_FILE.tmp"
            mv -f "$ENCRYPTION_SECRET_FILE.tmp" "$ENCRYPTION_SECRET_FILE"
        )
    else
        log "encryption root secret: $ENCRYPTION_SECRET_FILE"
    fi
    ENCRYPTION_SECRET=$(tr -d ' \t\r\n' <"$ENCRYPTION_SECRET_FILE")
    local n
    n=$(base64 -d <<<"$ENCRYPTION_SECRET" 2>/dev/null | wc -c) || n=0
    ((n >= 32)) || die "$ENCRYPTION_SECRET_FILE does not hold base64 of 32+ bytes; objects written through $ENC_PROXY_URL need the original secret (remove the file only if they can be lost)"
}

write_configs() {
    local image=$1 custom=$2
    log "writing Swift configs in $SWIFT_DIR"
    swift_conf "$EC_TYPE" | write_if_changed "$SWIFT_DIR/swift.conf"
    proxy_server_conf proxy-server 8080 | write_if_changed "$SWIFT_DIR/proxy-server.conf"
    # 0600: it holds the encryption root secret.
    proxy_server_conf proxy-server-encrypted 8081 "$ENCRYPTION_SECRET" |
        write_if_changed "$ENC_PROXY_CONF" 0600
    internal_client_conf | write_if_changed "$INTERNAL_CLIENT_CONF"
    gateway_conf proxy "$PROXY_HOST_ROOT" "$image" "$CUSTOM_IMAGE_ACCOUNT" "$custom" |
        write_if_changed "$GATEWAY_CONF"
    local n dir
    for n in "${STORAGE_NODES[@]}"; do
        dir=$(node_conf_dir "$n")
        account_server_conf "$n" | write_if_changed "$dir/account-server.conf"
        container_server_conf "$n" | write_if_changed "$dir/container-server.conf"
        object_server_conf "$n" | write_if_changed "$dir/object-server.conf"
        internal_client_conf "$n" | write_if_changed "$dir/internal-client.conf"
        gateway_conf "node$n" "$(node_host_root "$n")" "$image" "$CUSTOM_IMAGE_ACCOUNT" "$custom" |
            write_if_changed "$(node_gateway_conf "$n")"
    done
}

# One ring per ring_spec line, (re)built only when missing or when its line
# changed (a stamp per ring records the line's hash).
build_rings() {
    local ring replicas devs dev rc stamp stamp_file builder built=0
    rm -f "$SWIFT_DIR/.storlets-aio-rings.stamp" # before per-ring stamps
    while read -r ring replicas devs; do
        stamp=$(printf '%s %s %s\n' "$ring" "$replicas" "$devs" | sha16)
        stamp_file=$SWIFT_DIR/.storlets-aio-$ring.ring.stamp
        if [[ -f $stamp_file && $(<"$stamp_file") == "$stamp" && -f $SWIFT_DIR/$ring.ring.gz ]]; then
            continue
        fi
        log "building the $ring ring ($replicas replicas: ${devs// /, })"
        rm -f "$stamp_file" "$SWIFT_DIR/$ring.builder" "$SWIFT_DIR/$ring.ring.gz"
        builder=$SWIFT_DIR/$ring.builder
        "$VENV/bin/swift-ring-builder" "$builder" create 10 "$replicas" 1 >/dev/null </dev/null
        for dev in $devs; do
            "$VENV/bin/swift-ring-builder" "$builder" add "$dev" 100 >/dev/null </dev/null
        done
        rc=0
        "$VENV/bin/swift-ring-builder" "$builder" rebalance --seed 1 >/dev/null </dev/null || rc=$?
        # 1 = rebalanced with warnings
        ((rc <= 1)) || die "swift-ring-builder $builder rebalance failed (exit $rc)"
        printf '%s\n' "$stamp" >"$stamp_file"
        built=$((built + 1))
    done < <(ring_spec)
    ((built)) || log "rings are up to date ($(ring_spec | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//'))"
}

stop_swift() {
    local entry name prog conf port specs=()
    for entry in "${SERVERS[@]}"; do
        IFS='|' read -r name prog conf port <<<"$entry"
        specs+=("$name=$conf")
    done
    stop_daemons 15 "${specs[@]}"
}

# health_ok ADDRESS:PORT: the server answers its healthcheck.
health_ok() { curl -fsS -m 2 "http://$1/healthcheck" 2>/dev/null | grep -q OK; }

restart_swift() {
    local entry name prog conf port
    log "(re)starting Swift servers"
    stop_swift
    for entry in "${SERVERS[@]}"; do
        IFS='|' read -r name prog conf port <<<"$entry"
        if port_open "$port"; then
            die "port $port (for $name) is in use by a process aio.sh did not start; stop it first"
        fi
    done
    for entry in "${SERVERS[@]}"; do
        IFS='|' read -r name prog conf port <<<"$entry"
        start_daemon "$name" "$(server_log "$name")" "$VENV/bin/$prog" "$conf" -v
    done
    local deadline=$((SECONDS + 90)) pending
    for entry in "${SERVERS[@]}"; do
        IFS='|' read -r name prog conf port <<<"$entry"
        pending=1
        while ((SECONDS < deadline)); do
            if health_ok "$port"; then
                pending=0
                break
            fi
            if ! running_pid "$name" "$conf" >/dev/null; then
                show_tail "$(server_log "$name")" 40
                die "$name exited during start-up (log: $(server_log "$name"))"
            fi
            sleep 0.3
        done
        if ((pending)); then
            show_tail "$(server_log "$name")" 40
            die "$name did not answer http://$port/healthcheck in time"
        fi
        log "  $name is up on $port (pid $(running_pid "$name" "$conf"))"
    done
}

# ---------------------------------------------------------------- demo

swift_cli() {
    "$VENV/bin/swift" -A "$AUTH_URL" -U "$AIO_USER" -K "$AIO_KEY" "$@"
}

show_server_logs() {
    local entry name prog conf port
    for entry in "${SERVERS[@]}"; do
        IFS='|' read -r name prog conf port <<<"$entry"
        case $name in proxy-server* | object-server-*) show_tail "$(server_log "$name")" 25 ;; esac
    done
    local id
    for id in $(docker ps -aq --filter label=managed_by=storlets 2>/dev/null || true); do
        printf '[aio] ---- sandbox container %s (last 20 lines of docker logs) ----\n' \
            "$(docker ps -a --filter "id=$id" --format '{{.Names}} {{.Image}} {{.Status}}')" >&2
        docker logs --tail 20 "$id" 2>&1 | sed 's/^/    /' >&2 || true
    done
}

# Sandbox containers of another image (older agent code), not running, or of
# no node of this cluster (an older single-node all-in-one) are removed, so
# the next invocation starts a fresh one from the current image.
remove_stale_sandboxes() {
    local id img state node current=" $* " nodes=" proxy " n
    for n in "${STORAGE_NODES[@]}"; do nodes+="node$n "; done
    while read -r id img state node; do
        [[ -n $id ]] || continue
        if [[ $current != *" $img "* || $state != running || $nodes != *" $node "* ]]; then
            log "  removing sandbox container $id ($img, $state, node '${node:-}')"
            docker rm -f "$id" >/dev/null || true
        fi
    done < <(docker ps -a --filter label=managed_by=storlets \
        --format '{{.ID}} {{.Image}} {{.State}} {{.Label "storlets.node"}}')
}

# remove_node_sandboxes NODE_NAME: stop a node's sandbox containers.
remove_node_sandboxes() {
    local ids
    ids=$(docker ps -aq --filter label=managed_by=storlets --filter "label=storlets.node=$1")
    if [[ -n $ids ]]; then
        log "  removing the sandboxes of $1: $(echo "$ids" | tr '\n' ' ')"
        # shellcheck disable=SC2086  # one id per word
        docker rm -f $ids >/dev/null
    fi
}

# swift_step DESCRIPTION SWIFT-ARGS...: a swift CLI call that must succeed.
swift_step() {
    local desc=$1 out rc=0
    shift
    out=$(swift_cli "$@" 2>&1) || rc=$?
    if ((rc != 0)); then
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        show_server_logs
        die "$desc failed (swift $*)"
    fi
}

setup_account_and_demo() {
    [[ -f $SAMPLE_STORLET ]] ||
        die "sample storlet $SAMPLE_STORLET is missing (set STORLETS_AIO_SAMPLE_STORLET to another file)"
    log "enabling storlets on AUTH_test and creating containers storlet, dependency, storletlog"
    swift_step "enabling storlets on the account" post -H 'X-Account-Meta-Storlet-Enabled: True'
    local c
    for c in storlet dependency storletlog mycontainer; do
        swift_step "creating container $c" post "$c"
    done
    # Like upstream's devstack: the plain member user may read (so run)
    # storlets and their dependencies.
    for c in storlet dependency; do
        swift_step "letting test:tester3 read $c" post -r 'test:tester3' "$c"
    done
    # A second storlet-enabled account, for isolation tests.
    log "enabling storlets on AUTH_test4 (test4:tester4) with its own containers"
    AIO_USER=test4:tester4 AIO_KEY=testing4 swift_step \
        "enabling storlets on AUTH_test4" post -H 'X-Account-Meta-Storlet-Enabled: True'
    for c in storlet dependency storletlog; do
        AIO_USER=test4:tester4 AIO_KEY=testing4 swift_step \
            "creating AUTH_test4 container $c" post "$c"
    done
    # AUTH_test2 is the account NOT enabled for storlets (the tests of a
    # disabled account): remove a flag left by hand or by an earlier run.
    log "AUTH_test2 (test2:tester2) stays disabled for storlets"
    AIO_USER=test2:tester2 AIO_KEY=testing2 swift_step \
        "disabling storlets on AUTH_test2" post -H 'X-Remove-Account-Meta-Storlet-Enabled: x'
    log "uploading the sample storlet identity.py"
    swift_step "uploading storlet identity.py" upload storlet "$SAMPLE_STORLET" \
        --object-name identity.py \
        -H 'X-Object-Meta-Storlet-Language: Python' \
        -H 'X-Object-Meta-Storlet-Interface-Version: 1.0' \
        -H 'X-Object-Meta-Storlet-Object-Metadata: no' \
        -H 'X-Object-Meta-Storlet-Main: identity.IdentityStorlet'
    local tmp expected
    tmp=$(mktemp /tmp/storlets-aio-object.XXXXXX)
    expected='Hello from storlets!'
    printf '%s\n' "$expected" >"$tmp"
    swift_step "uploading mycontainer/myobject" upload mycontainer "$tmp" --object-name myobject
    rm -f "$tmp"
    log "running the identity storlet on mycontainer/myobject (first call starts the sandbox)..."
    local out rc=0
    out=$(timeout 180 "$VENV/bin/swift" -A "$AUTH_URL" -U "$AIO_USER" -K "$AIO_KEY" --retries 1 \
        download mycontainer myobject -o - -H 'X-Run-Storlet: identity.py' 2>&1) || rc=$?
    if ((rc != 0)) || [[ $out != "$expected" ]]; then
        printf '    %s\n' "swift download exit status: $rc; output:" >&2
        printf '%s\n' "$out" | sed 's/^/    | /' >&2
        show_server_logs
        die "the storlet invocation failed"
    fi
    DEMO_OUTPUT=$out
}

print_usage_hint() {
    local sw="$VENV/bin/swift -A $AUTH_URL -U $AIO_USER -K $AIO_KEY"
    cat <<EOF

[aio] storlets all-in-one is up. A real storlet invocation returned:

    $DEMO_OUTPUT

Call it yourself with the swift CLI:

    $sw download mycontainer myobject -o - -H 'X-Run-Storlet: identity.py'

Upload your own object and run the identity storlet on it:

    $sw upload mycontainer ./somefile --object-name somefile
    $sw download mycontainer somefile -o - -H 'X-Run-Storlet: identity.py'

Erasure-coded container (policy '$EC_POLICY', 2+1 fragments, pyeclib $EC_TYPE):

    $sw post -H 'X-Storage-Policy: $EC_POLICY' eccontainer

Proxy with at-rest encryption (same users and cluster): $ENC_PROXY_URL

    $VENV/bin/swift -A $ENC_PROXY_URL/auth/v1.0 -U $AIO_USER -K $AIO_KEY stat

Keystone (v3, $KEYSTONE_AUTH_URL) and its proxy $KEYSTONE_PROXY_URL (same cluster;
project $KEYSTONE_PROJECT, users tester (operator) and tester_member, password $KEYSTONE_TEST_PASSWORD):

    export OS_AUTH_URL=$KEYSTONE_AUTH_URL OS_IDENTITY_API_VERSION=3 \\
        OS_USERNAME=tester OS_PASSWORD=$KEYSTONE_TEST_PASSWORD OS_PROJECT_NAME=$KEYSTONE_PROJECT \\
        OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default
    $VENV/bin/swift download mycontainer myobject -o - -H 'X-Run-Storlet: identity.py'

Logs: $LOG_DIR   Status: devstack/aio.sh status   Stop: devstack/aio.sh down
EOF
}

# ---------------------------------------------------------------- commands

do_up() {
    require_root
    local start=$SECONDS image custom
    log "storlets all-in-one: repo $REPO_ROOT"
    mkdir -p "$RUN_DIR" "$LOG_DIR" "$CACHE_DIR"
    ensure_packages
    ensure_docker
    ensure_memcached
    ensure_venv
    ensure_keystone
    prepare_dirs
    choose_ec_type
    ensure_encryption_secret
    local image_opts=()
    [[ $AIO_JAVA == 1 ]] && image_opts=(--java)
    log "building/reusing the sandbox image (devstack/build-image.sh ${image_opts[*]})"
    image=$(bash "$HERE/build-image.sh" "${image_opts[@]}" 9>&- | tail -n1)
    [[ $image == storlets-sandbox:* || $image == storlets-sandbox-java:* ]] ||
        die "build-image.sh printed no image tag"
    log "sandbox image: $image"
    # A per-account image: $CUSTOM_IMAGE_ACCOUNT's sandboxes get extra packages.
    custom=$(bash "$HERE/build-image.sh" "${image_opts[@]}" --packages "$CUSTOM_IMAGE_PACKAGES" 9>&- | tail -n1)
    [[ $custom == storlets-sandbox-custom:* ]] || die "build-image.sh --packages printed no image tag"
    log "image of $CUSTOM_IMAGE_ACCOUNT: $custom (+ $CUSTOM_IMAGE_PACKAGES)"
    remove_stale_sandboxes "$image" "$custom"
    write_configs "$image" "$custom"
    keystone_proxy_server_conf | write_if_changed "$KEYSTONE_PROXY_CONF" 0600
    build_rings
    restart_swift
    setup_account_and_demo
    keystone_account_setup
    log "up finished in $((SECONDS - start))s"
}

cmd_up() {
    acquire_lock
    DEMO_OUTPUT=
    do_up
    print_usage_hint
}

cmd_test() {
    acquire_lock
    DEMO_OUTPUT=
    export AIO_QUIET=1
    do_up
    log "storlet invocation returned: $DEMO_OUTPUT"

    local paths=(tests/unit tests/functional) arg
    for arg in "$@"; do
        if [[ $arg != -* && -e $REPO_ROOT/${arg%%::*} ]]; then
            paths=()
            break
        fi
    done
    cd "$REPO_ROOT"
    local rc=0 java_build=
    if [[ $AIO_JAVA == 1 ]]; then
        # The Java API, engine and samples, built once for the functional
        # tests; with the whole suite, their Java unit tests run here too.
        java_build=$CACHE_DIR/java-build
        rm -rf "$java_build"
        local java_args=("$java_build")
        ((${#paths[@]})) && java_args+=(--test)
        log "running: java/build.sh ${java_args[*]}"
        bash java/build.sh "${java_args[@]}" >"$LOG_DIR/java-tests.log" 2>&1 || rc=$?
        ((${#paths[@]})) && log "java tests: $(tail -n1 "$LOG_DIR/java-tests.log")"
        if ((rc != 0)); then
            sed 's/^/    /' "$LOG_DIR/java-tests.log" | grep -v '^    PASS ' >&2
            die "java/build.sh failed (log: $LOG_DIR/java-tests.log)"
        fi
    fi
    log "running: pytest -v -rs ${paths[*]} $*"
    STORLETS_AIO=1 \
        STORLETS_JAVA_BUILD=$java_build \
        ST_AUTH=$AUTH_URL \
        ST_USER=$AIO_USER \
        ST_KEY=$AIO_KEY \
        STORLETS_AIO_LOG_DIR=$LOG_DIR \
        STORLETS_GATEWAY_CONF=$GATEWAY_CONF \
        STORLETS_EC_POLICY=$EC_POLICY \
        STORLETS_ENCRYPTED_PROXY=$ENC_PROXY_URL \
        STORLETS_KEYSTONE_AUTH=$KEYSTONE_AUTH_URL \
        STORLETS_KEYSTONE_PROXY=$KEYSTONE_PROXY_URL \
        PATH="$VENV/bin:$PATH" \
        "$VENV/bin/python" -m pytest -v -rs "${paths[@]}" "$@" 9>&- || rc=$?
    if ((rc == 5)); then
        log "pytest collected no tests; that counts as a failure"
        exit 1
    fi
    exit "$rc"
}

# restart-server NAME: restart one Swift server of the all-in-one. Takes no
# lock, so fault tests can call it while `aio.sh test` runs.
cmd_restart_server() {
    require_root
    local want=${1:-} entry name prog conf port deadline
    for entry in "${SERVERS[@]}"; do
        IFS='|' read -r name prog conf port <<<"$entry"
        [[ $name == "$want" ]] || continue
        stop_daemons 15 "$name=$conf"
        start_daemon "$name" "$(server_log "$name")" "$VENV/bin/$prog" "$conf" -v
        deadline=$((SECONDS + 60))
        until health_ok "$port"; do
            ((SECONDS < deadline)) || die "$name did not come back"
            sleep 0.2
        done
        log "$name restarted (pid $(running_pid "$name" "$conf"))"
        return
    done
    die "no server named '$want'"
}

# node_servers N: the SERVERS entries of storage node N.
node_servers() {
    local entry
    for entry in "${SERVERS[@]}"; do
        [[ ${entry%%|*} == *-server-"$1" ]] && printf '%s\n' "$entry"
    done
}

check_node() {
    [[ ${1:-} =~ ^[0-9]+$ && " ${STORAGE_NODES[*]} " == *" $1 "* ]] ||
        die "no storage node '${1:-}' (nodes: ${STORAGE_NODES[*]})"
}

# stop-node N: stop storage node N's servers and its sandboxes, as if the
# host went down (its devices, cache and configs stay). Takes no lock.
cmd_stop_node() {
    require_root
    check_node "${1:-}"
    local entry name prog conf port specs=()
    while IFS='|' read -r name prog conf port; do
        specs+=("$name=$conf")
    done < <(node_servers "$1")
    stop_daemons 15 "${specs[@]}"
    remove_node_sandboxes "node$1"
    log "node $1 ($(node_ip "$1")) is down"
}

# start-node N: start storage node N's servers again. Takes no lock.
cmd_start_node() {
    require_root
    check_node "${1:-}"
    local name prog conf port deadline
    while IFS='|' read -r name prog conf port; do
        running_pid "$name" "$conf" >/dev/null && continue
        start_daemon "$name" "$(server_log "$name")" "$VENV/bin/$prog" "$conf" -v
    done < <(node_servers "$1")
    deadline=$((SECONDS + 60))
    while IFS='|' read -r name prog conf port; do
        until health_ok "$port"; do
            ((SECONDS < deadline)) || die "$name did not come back (log: $(server_log "$name"))"
            sleep 0.2
        done
    done < <(node_servers "$1")
    log "node $1 ($(node_ip "$1")) is up"
}

cmd_down() {
    require_root
    acquire_lock
    if timeout 20 docker info >/dev/null 2>&1; then
        local ids
        ids=$(docker ps -aq --filter label=managed_by=storlets)
        if [[ -n $ids ]]; then
            log "removing storlet sandbox containers: $(echo "$ids" | tr '\n' ' ')"
            # shellcheck disable=SC2086  # one id per word
            docker rm -f $ids >/dev/null
        fi
    fi
    log "stopping Swift servers"
    stop_swift
    stop_keystone
    stop_daemons 10 memcached=memcached
    if [[ -f $RUN_DIR/dockerd.systemd ]]; then
        log "  stopping dockerd (systemctl stop docker)"
        systemctl stop docker docker.socket 2>/dev/null || systemctl stop docker || true
        rm -f "$RUN_DIR/dockerd.systemd"
    else
        stop_daemons 60 dockerd=dockerd
    fi
    log "down: done (data in $DATA_ROOT and images kept)"
}

cmd_status() {
    local entry name prog conf port pid
    for entry in "${SERVERS[@]}"; do
        IFS='|' read -r name prog conf port <<<"$entry"
        if [[ $name =~ ^account-server-([0-9]+)$ ]]; then
            printf 'storage node %s (%s, gateway %s):\n' "${BASH_REMATCH[1]}" \
                "$(node_ip "${BASH_REMATCH[1]}")" "$(node_gateway_conf "${BASH_REMATCH[1]}")"
        elif [[ $name == proxy-server ]]; then
            printf 'proxy node (127.0.0.1, gateway %s):\n' "$GATEWAY_CONF"
        fi
        if pid=$(running_pid "$name" "$conf"); then
            if health_ok "$port"; then
                printf '  %-22s running, pid %s, %s healthy\n' "$name" "$pid" "$port"
            else
                printf '  %-22s running, pid %s, %s NOT answering\n' "$name" "$pid" "$port"
            fi
        else
            printf '  %-22s stopped\n' "$name"
        fi
    done
    keystone_status
    if pid=$(running_pid memcached memcached); then
        printf '%-22s running, pid %s (started by aio.sh)\n' memcached "$pid"
    elif port_open 11211; then
        printf '%-22s running (not started by aio.sh)\n' memcached
    else
        printf '%-22s stopped\n' memcached
    fi
    local docker_up=0
    timeout 20 docker info >/dev/null 2>&1 && docker_up=1
    if pid=$(running_pid dockerd dockerd); then
        printf '%-22s running, pid %s (started by aio.sh)\n' dockerd "$pid"
    elif ((docker_up)) && [[ -f $RUN_DIR/dockerd.systemd ]]; then
        printf '%-22s running (started by aio.sh through systemd)\n' dockerd
    elif ((docker_up)); then
        printf '%-22s running (not started by aio.sh)\n' dockerd
    else
        printf '%-22s stopped\n' dockerd
    fi
    if [[ -f $GATEWAY_CONF ]]; then
        printf '%-22s %s\n' "sandbox image" "$(sed -n 's/^sandbox_image *= *//p' "$GATEWAY_CONF" | head -n1)"
    fi
    if ((docker_up)); then
        printf 'sandbox containers (label managed_by=storlets):\n'
        docker ps --filter label=managed_by=storlets \
            --format '  {{.ID}} {{.Names}} {{.Label "storlets.node"}} {{.Image}} {{.Status}}'
    fi
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
    up) cmd_up ;;
    test) cmd_test "$@" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    restart-server) cmd_restart_server "$@" ;;
    stop-node) cmd_stop_node "$@" ;;
    start-node) cmd_start_node "$@" ;;
    ensure-docker) require_root && ensure_docker ;;
    -h | --help | help) usage ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
}

main "$@"
