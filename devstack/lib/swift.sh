# shellcheck shell=bash
# Swift configuration for the storlets all-in-one (sourced by devstack/aio.sh).
#
# Each *_conf function prints one config file on stdout; write_if_changed puts
# it in place. Expects from the caller: SWIFT_DIR, DATA_ROOT, CACHE_DIR,
# GATEWAY_CONF, HOST_ROOT, INTERNAL_CLIENT_CONF, EC_POLICY.
#
# The cluster: proxies on 127.0.0.1 and three storage nodes, node N on
# 127.0.0.(N+1) with an object (port 62N0), container (62N1) and account
# (62N2) server on its own device, one zone per node, three replicas of
# everything. Each node has its own configs ($SWIFT_DIR/nodeN), devices
# ($DATA_ROOT/nodeN), logs ($LOG_DIR/nodeN), storlet gateway (node name
# nodeN, host_root $HOST_ROOT/nodeN) and so its own code cache, runtime
# directory and sandboxes, as separate hosts would; the proxies' gateway is
# node "proxy" ($HOST_ROOT/proxy). Only dockerd and memcached are shared.

MEMCACHE_SERVERS=127.0.0.1:11211
STORAGE_NODES=(1 2 3)

node_ip() { printf '127.0.0.%d\n' $(($1 + 1)); }
# node_port N KIND: KIND is object, container or account.
node_port() {
    case $2 in
    object) printf '62%d0\n' "$1" ;;
    container) printf '62%d1\n' "$1" ;;
    account) printf '62%d2\n' "$1" ;;
    esac
}
node_conf_dir() { printf '%s/node%d\n' "$SWIFT_DIR" "$1"; }
node_devices() { printf '%s/node%d\n' "$DATA_ROOT" "$1"; }
node_gateway_conf() { printf '%s/storlet-docker-gateway.conf\n' "$(node_conf_dir "$1")"; }
node_host_root() { printf '%s/node%d\n' "$HOST_ROOT" "$1"; }

# write_if_changed DEST [MODE] < content
# Returns 0 always; logs when the file changed.
write_if_changed() {
    local dest=$1 mode=${2:-0644} tmp
    mkdir -p "$(dirname "$dest")"
    tmp=$(mktemp "$dest.XXXXXX")
    cat >"$tmp"
    chmod "$mode" "$tmp"
    if [[ -f $dest ]] && cmp -s "$tmp" "$dest"; then
        rm -f "$tmp"
    else
        mv -f "$tmp" "$dest"
        log "  wrote $dest"
    fi
}

# swift_conf EC_TYPE: policy 0 (replicated, default) and policy 1 (erasure
# coded with the pyeclib backend EC_TYPE, 2 data + 1 parity fragments; its
# ring object-1 has 3 "replicas", one fragment per object server).
swift_conf() {
    cat <<EOF
# Written by storlets devstack/aio.sh.
[swift-hash]
swift_hash_path_suffix = storlets-aio-suffix
swift_hash_path_prefix = storlets-aio-prefix

[storage-policy:0]
name = gold
default = yes

[storage-policy:1]
name = $EC_POLICY
policy_type = erasure_coding
ec_type = $1
ec_num_data_fragments = 2
ec_num_parity_fragments = 1
ec_object_segment_size = 1048576
EOF
}

# storlet_filter_section proxy|object [GATEWAY_CONF [INTERNAL_CLIENT_CONF]]
storlet_filter_section() {
    local server=$1 gateway=${2:-$GATEWAY_CONF} internal=${3:-$INTERNAL_CLIENT_CONF}
    cat <<EOF
[filter:storlet_handler]
use = egg:storlets#storlet_handler
execution_server = $server
storlet_gateway_module = docker
storlet_gateway_conf = $gateway
storlet_container = storlet
storlet_dependency = dependency
storlet_logcontainer = storletlog
storlet_execute_on_proxy_only = false
EOF
    if [[ $server == proxy ]]; then
        echo "max_extra_resources = -1"
    fi
    echo "internal_client_conf_path = $internal"
}

# proxy_server_conf NAME PORT [ENCRYPTION_ROOT_SECRET]
# With a secret (base64, 32+ bytes), the proxy encrypts object data and user
# metadata at rest: "keymaster encryption" go right before the final
# "proxy-logging proxy-server", as Swift's docs place them.
proxy_server_conf() {
    local name=$1 port=$2 secret=${3:-} crypto=
    [[ -n $secret ]] && crypto='keymaster encryption '
    cat <<EOF
# Written by storlets devstack/aio.sh.
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 2
user = root
log_name = $name
log_level = INFO
eventlet_debug = false

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl ratelimit crossdomain container_sync s3api tempauth staticweb storlet_handler copy container-quotas account-quotas slo dlo versioned_writes symlink ${crypto}proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
allow_account_management = true
account_autocreate = true
# A storlet GET runs on an object server before it answers the proxy: a cold
# start (sandbox_start_timeout) plus the storlet's first output can take longer
# than Swift's default 10 s node timeout.
node_timeout = 60
# Reads go to node 1 first, then 2, then 3 (while they answer), so an
# account's object-side storlet calls meet one warm sandbox.
sorting_method = affinity
read_affinity = r1z1=100, r1z2=200, r1z3=300

$(storlet_filter_section proxy)

[filter:tempauth]
use = egg:swift#tempauth
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
user_test_tester3 = testing3
user_test5_tester5 = testing5 service
user_test4_tester4 = testing4 .admin

# S3 API (path style; virtual-host style for <bucket>.localhost), before the
# auth filter as Swift's docs place it: tempauth checks S3 signatures.
[filter:s3api]
use = egg:swift#s3api
storage_domain = localhost

[filter:catch_errors]
use = egg:swift#catch_errors

[filter:gatekeeper]
use = egg:swift#gatekeeper

[filter:healthcheck]
use = egg:swift#healthcheck

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:cache]
use = egg:swift#memcache
memcache_servers = $MEMCACHE_SERVERS

[filter:listing_formats]
use = egg:swift#listing_formats

[filter:bulk]
use = egg:swift#bulk

[filter:tempurl]
use = egg:swift#tempurl

[filter:ratelimit]
use = egg:swift#ratelimit

[filter:crossdomain]
use = egg:swift#crossdomain

[filter:container_sync]
use = egg:swift#container_sync

[filter:staticweb]
use = egg:swift#staticweb

[filter:copy]
use = egg:swift#copy

[filter:container-quotas]
use = egg:swift#container_quotas

[filter:account-quotas]
use = egg:swift#account_quotas

[filter:slo]
use = egg:swift#slo

[filter:dlo]
use = egg:swift#dlo

[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true

[filter:symlink]
use = egg:swift#symlink
EOF
    if [[ -n $secret ]]; then
        cat <<EOF

[filter:keymaster]
use = egg:swift#keymaster
encryption_root_secret = $secret

[filter:encryption]
use = egg:swift#encryption
EOF
    fi
}

# common_server_defaults NODE KIND
common_server_defaults() {
    cat <<EOF
# Written by storlets devstack/aio.sh.
[DEFAULT]
devices = $(node_devices "$1")
mount_check = false
disable_fallocate = true
bind_ip = $(node_ip "$1")
bind_port = $(node_port "$1" "$2")
workers = 1
user = root
log_name = $2-server-$1
log_level = INFO
eventlet_debug = false
EOF
}

# recon_and_healthcheck_sections NODE
recon_and_healthcheck_sections() {
    cat <<EOF
[filter:healthcheck]
use = egg:swift#healthcheck

[filter:recon]
use = egg:swift#recon
recon_cache_path = $CACHE_DIR/recon/node$1
EOF
}

# object_server_conf NODE
object_server_conf() {
    cat <<EOF
$(common_server_defaults "$1" object)

[pipeline:main]
pipeline = healthcheck recon storlet_handler object-server

[app:object-server]
use = egg:swift#object

$(storlet_filter_section object "$(node_gateway_conf "$1")" "$(node_conf_dir "$1")/internal-client.conf")

$(recon_and_healthcheck_sections "$1")
EOF
}

# container_server_conf NODE
container_server_conf() {
    cat <<EOF
$(common_server_defaults "$1" container)

[pipeline:main]
pipeline = healthcheck recon container-server

[app:container-server]
use = egg:swift#container
allow_versions = true

$(recon_and_healthcheck_sections "$1")
EOF
}

# account_server_conf NODE
account_server_conf() {
    cat <<EOF
$(common_server_defaults "$1" account)

[pipeline:main]
pipeline = healthcheck recon account-server

[app:account-server]
use = egg:swift#account

$(recon_and_healthcheck_sections "$1")
EOF
}

# internal_client_conf [NODE]: used by the storlet_handler filter (object
# servers fetch storlet code with Swift's InternalClient); a storage node's
# reads its own replicas first, as a node that prefers local data would.
internal_client_conf() {
    cat <<EOF
# Written by storlets devstack/aio.sh. Used by the storlet_handler filter
# (object servers fetch storlet code with Swift's InternalClient).
[DEFAULT]

[pipeline:main]
pipeline = catch_errors proxy-logging cache proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
EOF
    if [[ -n ${1:-} ]]; then
        printf 'sorting_method = affinity\nread_affinity = r1z%d=100\n' "$1"
    fi
    cat <<EOF

[filter:cache]
use = egg:swift#memcache
memcache_servers = $MEMCACHE_SERVERS

[filter:proxy-logging]
use = egg:swift#proxy_logging

[filter:catch_errors]
use = egg:swift#catch_errors
EOF
}

# gateway_conf NODE_NAME HOST_ROOT IMAGE_TAG ACCOUNT ACCOUNT_IMAGE_TAG
gateway_conf() {
    cat <<EOF
[DEFAULT]
# This node's sandboxes are storlets-$1-<scope>; its code cache, sockets
# and locks live under host_root: nodes sharing a dockerd keep apart.
node_name = $1
host_root = $2
sandbox_image = $3
# Shorter than the default (40) so the timeout tests stay quick; the proxy's
# node_timeout (60) must stay above it, or Swift would retry a slow storlet
# on another replica.
storlet_timeout = 15
# Small enough that the lifecycle tests see the least recently used sandbox
# go; AUTH_idletest's sandbox stops after 3 idle seconds (lifecycle tests).
max_containers_per_node = 6
sandbox_start_timeout = 10
# Collect the code cache often, so the cache tests see it within seconds.
cache_collect_interval = 2
# One sandbox started ahead of any account: a cold start claims it.
spare_sandboxes = 1

[account:AUTH_idletest]
sandbox_idle_timeout = 3

# Every call in a fresh worker (no worker reuse): the worker reuse tests and
# the benchmark's "fresh" rows.
[account:AUTH_freshworkers]
calls_per_worker = 1

# An operator image with extra packages for one account only.
[account:$4]
sandbox_image = $5
EOF
}

# Ring layout: "ring replicas device..." with devices as the ring builder's
# add syntax: node N is zone N, its device dN. Object (policy 0): 3
# replicas; object-1 (policy 1, EC 2+1): 3 fragments; container and
# account: 3 replicas.
ring_spec() {
    local ring kind n line
    for ring in object object-1 container account; do
        kind=${ring%-1}
        line="$ring 3"
        for n in "${STORAGE_NODES[@]}"; do
            line+=" r1z$n-$(node_ip "$n"):$(node_port "$n" "$kind")/d$n"
        done
        printf '%s\n' "$line"
    done
}
