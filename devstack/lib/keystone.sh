# shellcheck shell=bash
# Keystone for the storlets all-in-one (sourced by devstack/aio.sh).
#
# A real Keystone from PyPI in its own venv ($KEYSTONE_VENV), SQLite and
# fernet tokens, served by uwsgi on http://127.0.0.1:5000 (v3), and a second
# Swift proxy on 127.0.0.1:8085 over the same cluster whose pipeline has
# "authtoken keystoneauth" where the 8080 proxy has "tempauth".
#
# Identities (password for all users: $KEYSTONE_TEST_PASSWORD):
#   project test:  tester (role admin, a Swift operator: owns AUTH_<test id>),
#                  tester_member (role member, no Swift operator)
#   project test2: tester2 (role member; a user of another project)
#   project service: swift (role service; authtoken's service user)
#   service object-store, endpoints http://127.0.0.1:8085/v1/AUTH_%(project_id)s
#
# Expects from the caller: LOG_DIR, RUN_DIR, VENV, SWIFT_DIR, MEMCACHE_SERVERS,
# start_daemon, stop_daemons, running_pid, port_open, proxy_server_conf,
# write_if_changed, log, die, run_long, show_tail, sha16.
# shellcheck disable=SC2034  # the KEYSTONE_* settings are used by aio.sh

KEYSTONE_VENV=/opt/storlets/keystone-venv
KEYSTONE_DIR=/etc/keystone
KEYSTONE_CONF=$KEYSTONE_DIR/keystone.conf
KEYSTONE_DATA=/var/lib/storlets-aio-keystone
KEYSTONE_PORT=5000
KEYSTONE_URL=http://127.0.0.1:$KEYSTONE_PORT
KEYSTONE_AUTH_URL=$KEYSTONE_URL/v3
# Measured on Python 3.11 (Debian 12); bump together.
KEYSTONE_PIP_PACKAGES=(keystone==30.0.0)
# Built from source (~12 s) with the system Python's headers: a wheel cached
# from another Python's build fails to import _socket, hence --no-cache-dir.
KEYSTONE_UWSGI=uwsgi==2.0.31
KEYSTONE_APT_PACKAGES=(gcc libc6-dev python3-dev)
# In the Swift venv: authtoken for the 8085 proxy, and python-keystoneclient,
# which the swift CLI needs for --auth-version 3.
KEYSTONE_SWIFT_PIP_PACKAGES=(keystonemiddleware==13.0.1 python-keystoneclient==6.0.0)
KEYSTONE_ADMIN_PASSWORD='admin'
KEYSTONE_TEST_PASSWORD=testing
KEYSTONE_SWIFT_PASSWORD=swiftpass
KEYSTONE_REGION=RegionOne
KEYSTONE_PROXY_PORT=8085
KEYSTONE_PROXY_URL=http://127.0.0.1:$KEYSTONE_PROXY_PORT
KEYSTONE_PROXY_CONF=$SWIFT_DIR/proxy-server-keystone.conf
# The Keystone project whose account the all-in-one enables for storlets.
KEYSTONE_PROJECT='test'
KEYSTONE_PROJECT_ID=

keystone_conf() {
    cat <<EOF
# Written by storlets devstack/aio.sh.
[DEFAULT]
log_file = $LOG_DIR/keystone.log

[database]
connection = sqlite:///$KEYSTONE_DATA/keystone.db

[token]
provider = fernet

[fernet_tokens]
key_repository = $KEYSTONE_DIR/fernet-keys/

[credential]
key_repository = $KEYSTONE_DIR/credential-keys/

# With Keystone's defaults a token costs ~290 ms to issue and ~270 ms to
# validate; this cache (in memory, per uwsgi process: keystone runs one) and
# the cheap password hash below bring that to 10-50 ms and ~2 ms.
[cache]
enabled = true
backend = dogpile.cache.memory

[identity]
# TEST ONLY: 4 bcrypt rounds make password checks cheap (and weak). Never
# copy this into a real deployment.
password_hash_rounds = 4
EOF
}

keystone_venv_stamp() {
    {
        printf 'aio=%s\npip=%s %s\n' "$AIO_VERSION" "${KEYSTONE_PIP_PACKAGES[*]}" "$KEYSTONE_UWSGI"
        "$KEYSTONE_VENV/bin/python" -c 'import sys; print(sys.version)'
    } | sha16
}

# ensure_keystone_venv: $KEYSTONE_VENV has keystone and uwsgi (pinned);
# reinstalled only when the pins or the Python change.
ensure_keystone_venv() {
    ensure_python_venv "$KEYSTONE_VENV"
    local stamp_file=$KEYSTONE_VENV/.storlets-aio-stamp stamp
    stamp=$(keystone_venv_stamp)
    if [[ -f $stamp_file && $(<"$stamp_file") == "$stamp" ]]; then
        log "Keystone venv $KEYSTONE_VENV is up to date"
        return
    fi
    rm -f "$stamp_file"
    local pip=("$KEYSTONE_VENV/bin/python" -m pip install --disable-pip-version-check --no-input)
    log "installing into $KEYSTONE_VENV: ${KEYSTONE_PIP_PACKAGES[*]} $KEYSTONE_UWSGI (~1 min)..."
    run_long "$LOG_DIR/pip-keystone.log" "pip install keystone" "${pip[@]}" "${KEYSTONE_PIP_PACKAGES[@]}"
    run_long "$LOG_DIR/pip-keystone.log" "pip install uwsgi" "${pip[@]}" --no-cache-dir "$KEYSTONE_UWSGI"
    "$KEYSTONE_VENV/bin/uwsgi" --version >/dev/null 2>&1 || die "uwsgi in $KEYSTONE_VENV does not run"
    printf '%s\n' "$stamp" >"$stamp_file"
}

keystone_manage() {
    "$KEYSTONE_VENV/bin/keystone-manage" --config-file "$KEYSTONE_CONF" "$@"
}

# ensure_keystone_db: config, database schema, fernet and credential keys and
# the bootstrap admin (project admin, region, identity endpoint). Each step is
# idempotent; all of them run only when the stamp (venv, config) changed or
# the database is missing.
ensure_keystone_db() {
    mkdir -p "$KEYSTONE_DIR" "$KEYSTONE_DATA"
    chmod 0700 "$KEYSTONE_DATA"
    keystone_conf | write_if_changed "$KEYSTONE_CONF" 0600
    local stamp_file=$KEYSTONE_DATA/.storlets-aio-stamp stamp
    stamp=$({
        keystone_venv_stamp
        cat "$KEYSTONE_CONF"
        printf '%s %s\n' "$KEYSTONE_ADMIN_PASSWORD" "$KEYSTONE_URL"
    } | sha16)
    if [[ -f $stamp_file && $(<"$stamp_file") == "$stamp" && -s $KEYSTONE_DATA/keystone.db ]]; then
        log "Keystone database $KEYSTONE_DATA/keystone.db is bootstrapped"
        return
    fi
    rm -f "$stamp_file"
    local start=$SECONDS
    log "bootstrapping Keystone (db_sync, fernet_setup, credential_setup, bootstrap)..."
    keystone_manage db_sync >>"$LOG_DIR/keystone-manage.log" 2>&1 ||
        { show_tail "$LOG_DIR/keystone-manage.log" 30 && die "keystone-manage db_sync failed"; }
    keystone_manage fernet_setup --keystone-user root --keystone-group root \
        >>"$LOG_DIR/keystone-manage.log" 2>&1 ||
        { show_tail "$LOG_DIR/keystone-manage.log" 30 && die "keystone-manage fernet_setup failed"; }
    keystone_manage credential_setup --keystone-user root --keystone-group root \
        >>"$LOG_DIR/keystone-manage.log" 2>&1 ||
        { show_tail "$LOG_DIR/keystone-manage.log" 30 && die "keystone-manage credential_setup failed"; }
    keystone_manage bootstrap --bootstrap-password "$KEYSTONE_ADMIN_PASSWORD" \
        --bootstrap-admin-url "$KEYSTONE_AUTH_URL" \
        --bootstrap-internal-url "$KEYSTONE_AUTH_URL" \
        --bootstrap-public-url "$KEYSTONE_AUTH_URL" \
        --bootstrap-region-id "$KEYSTONE_REGION" >>"$LOG_DIR/keystone-manage.log" 2>&1 ||
        { show_tail "$LOG_DIR/keystone-manage.log" 30 && die "keystone-manage bootstrap failed"; }
    printf '%s\n' "$stamp" >"$stamp_file"
    log "  Keystone bootstrapped ($((SECONDS - start))s)"
}

stop_keystone() { stop_daemons 15 "keystone=$KEYSTONE_CONF"; }

# keystone_ok: Keystone answers its v3 root.
keystone_ok() { curl -fsS -m 2 "$KEYSTONE_AUTH_URL" 2>/dev/null | grep -q '"id": *"v3'; }

# restart_keystone: uwsgi serving keystone.wsgi.api (one process, so its
# in-memory cache is coherent; threads for concurrency). "Connection: close"
# on every answer: uwsgi's HTTP router resets kept-alive connections.
restart_keystone() {
    stop_keystone
    port_open "$KEYSTONE_PORT" &&
        die "port $KEYSTONE_PORT (for Keystone) is in use by a process aio.sh did not start; stop it first"
    start_daemon keystone "$LOG_DIR/keystone-uwsgi.log" \
        "$KEYSTONE_VENV/bin/uwsgi" --http-socket "127.0.0.1:$KEYSTONE_PORT" \
        --module keystone.wsgi.api:application --virtualenv "$KEYSTONE_VENV" \
        --processes 1 --threads 8 --master --die-on-term --lazy-apps \
        --add-header 'Connection: close' \
        --env "OS_KEYSTONE_CONFIG_FILES=$KEYSTONE_CONF"
    local deadline=$((SECONDS + 60))
    until keystone_ok; do
        if ! running_pid keystone "$KEYSTONE_CONF" >/dev/null; then
            show_tail "$LOG_DIR/keystone-uwsgi.log" 40
            die "Keystone (uwsgi) exited during start-up"
        fi
        ((SECONDS < deadline)) || {
            show_tail "$LOG_DIR/keystone-uwsgi.log" 40
            die "Keystone did not answer $KEYSTONE_AUTH_URL in 60s"
        }
        sleep 0.3
    done
    log "  keystone is up on $KEYSTONE_AUTH_URL (pid $(running_pid keystone "$KEYSTONE_CONF"))"
}

# keystone_identities: projects, users, roles and the object-store service
# of the module doc, created through Keystone's API when missing. Sets
# KEYSTONE_PROJECT_ID (the id of project $KEYSTONE_PROJECT).
keystone_identities() {
    local out rc=0
    out=$("$KEYSTONE_VENV/bin/python" "$HERE/tools/keystone_identities.py" \
        "$KEYSTONE_AUTH_URL" "$KEYSTONE_ADMIN_PASSWORD" "$KEYSTONE_TEST_PASSWORD" \
        "$KEYSTONE_SWIFT_PASSWORD" "$KEYSTONE_REGION" \
        "$KEYSTONE_PROXY_URL/v1/AUTH_%(project_id)s" "$KEYSTONE_PROJECT" 2>&1) || rc=$?
    if ((rc != 0)) || [[ $(tail -n1 <<<"$out") != "PROJECT_ID "* ]]; then
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        show_tail "$LOG_DIR/keystone.log" 30
        die "creating the Keystone projects and users failed"
    fi
    printf '%s\n' "$out" | sed '$d' | sed 's/^/[aio]   /' >&2
    KEYSTONE_PROJECT_ID=$(tail -n1 <<<"$out")
    KEYSTONE_PROJECT_ID=${KEYSTONE_PROJECT_ID#PROJECT_ID }
    log "  Keystone project $KEYSTONE_PROJECT: $KEYSTONE_PROJECT_ID (Swift account AUTH_$KEYSTONE_PROJECT_ID)"
}

# ensure_keystone: everything Keystone needs before the Swift servers start.
ensure_keystone() {
    local start=$SECONDS
    ensure_keystone_venv
    ensure_keystone_db
    restart_keystone
    keystone_identities
    log "Keystone ready in $((SECONDS - start))s"
}

# keystone_proxy_server_conf: the 8080 proxy's config (proxy_server_conf) on
# port $KEYSTONE_PROXY_PORT, "tempauth" in its pipeline replaced by
# "authtoken keystoneauth" (so storlet_handler stays right after the auth
# filters; s3api, if there, gets s3token before them as Swift requires), plus
# their sections.
keystone_proxy_server_conf() {
    proxy_server_conf proxy-server-keystone "$KEYSTONE_PROXY_PORT" |
        sed -e '/^pipeline = /s/ s3api tempauth / s3api s3token tempauth /' \
            -e '/^pipeline = /s/ tempauth / authtoken keystoneauth /'
    cat <<EOF

[filter:s3token]
use = egg:swift#s3token
auth_uri = $KEYSTONE_AUTH_URL

[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
user_domain_id = default
project_domain_id = default
project_name = service
username = swift
password = $KEYSTONE_SWIFT_PASSWORD
region_name = $KEYSTONE_REGION
delay_auth_decision = True
include_service_catalog = False
# Validated tokens are cached in Swift's memcache.
cache = swift.cache

[filter:keystoneauth]
use = egg:swift#keystoneauth
operator_roles = admin, swiftoperator
reseller_admin_role = ResellerAdmin
EOF
}

# keystone_swift_cli [--user NAME] SWIFT-ARGS...: the swift CLI through the
# 8085 proxy with a Keystone v3 token of NAME (default tester) of project test.
keystone_swift_cli() {
    local user=tester
    if [[ ${1:-} == --user ]]; then
        user=$2
        shift 2
    fi
    timeout 180 "$VENV/bin/swift" --auth-version 3 --os-auth-url "$KEYSTONE_AUTH_URL" \
        --os-username "$user" --os-password "$KEYSTONE_TEST_PASSWORD" \
        --os-user-domain-name Default --os-project-name "$KEYSTONE_PROJECT" \
        --os-project-domain-name Default "$@"
}

# keystone_step DESCRIPTION SWIFT-ARGS...: keystone_swift_cli that must succeed.
keystone_step() {
    local desc=$1 out rc=0
    shift
    out=$(keystone_swift_cli "$@" 2>&1) || rc=$?
    if ((rc != 0)); then
        printf '%s\n' "$out" | sed 's/^/    /' >&2
        show_tail "$LOG_DIR/proxy-server-keystone.log" 25
        die "$desc failed (swift $* through $KEYSTONE_PROXY_URL)"
    fi
    printf '%s\n' "$out"
}

# keystone_account_setup: AUTH_<test project id> enabled for storlets (by
# tester, through the 8085 proxy) with its storlet, dependency and
# storletlog containers; tester_member may read storlet and dependency; the
# sample storlet runs there on mycontainer/myobject.
keystone_account_setup() {
    log "enabling storlets on AUTH_$KEYSTONE_PROJECT_ID (Keystone $KEYSTONE_PROJECT:tester via $KEYSTONE_PROXY_URL)"
    keystone_step "enabling storlets" post -H 'X-Account-Meta-Storlet-Enabled: True' >/dev/null
    local c
    for c in storlet dependency storletlog mycontainer; do
        keystone_step "creating container $c" post "$c" >/dev/null
    done
    for c in storlet dependency; do
        keystone_step "letting $KEYSTONE_PROJECT:tester_member read $c" \
            post -r "$KEYSTONE_PROJECT:tester_member" "$c" >/dev/null
    done
    keystone_step "uploading storlet identity.py" upload storlet "$SAMPLE_STORLET" \
        --object-name identity.py \
        -H 'X-Object-Meta-Storlet-Language: Python' \
        -H 'X-Object-Meta-Storlet-Interface-Version: 1.0' \
        -H 'X-Object-Meta-Storlet-Object-Metadata: no' \
        -H 'X-Object-Meta-Storlet-Main: identity.IdentityStorlet' >/dev/null
    local tmp out expected='Hello from storlets through Keystone!'
    tmp=$(mktemp /tmp/storlets-aio-object.XXXXXX)
    printf '%s\n' "$expected" >"$tmp"
    keystone_step "uploading mycontainer/myobject" upload mycontainer "$tmp" --object-name myobject >/dev/null
    rm -f "$tmp"
    out=$(keystone_swift_cli --retries 1 download mycontainer myobject -o - \
        -H 'X-Run-Storlet: identity.py' 2>&1) || true
    if [[ $out != "$expected" ]]; then
        printf '    | %s\n' "$out" >&2
        show_server_logs
        die "the storlet invocation through $KEYSTONE_PROXY_URL failed"
    fi
    log "  identity.py through Keystone and $KEYSTONE_PROXY_URL returned: $out"
}

keystone_status() {
    local pid
    if pid=$(running_pid keystone "$KEYSTONE_CONF"); then
        if keystone_ok; then
            printf '%-22s running, pid %s, 127.0.0.1:%s healthy\n' keystone "$pid" "$KEYSTONE_PORT"
        else
            printf '%-22s running, pid %s, 127.0.0.1:%s NOT answering\n' keystone "$pid" "$KEYSTONE_PORT"
        fi
    else
        printf '%-22s stopped\n' keystone
    fi
}
