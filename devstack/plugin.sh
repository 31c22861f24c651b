# shellcheck shell=bash
# devstack plugin for storlets: runs inside stack.sh/unstack.sh/clean.sh,
# which provide is_service_enabled, iniset, iniget, install_package,
# setup_develop, die and the settings from devstack/settings.
#
# Adds the storlet_handler filter to Swift's proxy (immediately before `copy`,
# or before `slo` without copy) and object-server pipelines (immediately
# before `object-server`), writes the docker gateway config, builds the
# sandbox image and enables storlets on the demo project's account.

# _storlets_insert_before FILE APP...: put storlet_handler into FILE's
# [pipeline:main] immediately before the first of APP... present there.
# Does nothing if storlet_handler is already in the pipeline.
function _storlets_insert_before {
    local file=$1 pipeline anchor word found="" new=()
    shift
    pipeline=$(iniget "$file" pipeline:main pipeline)
    [[ -n $pipeline ]] || die $LINENO "no [pipeline:main] pipeline in $file"
    local -a words
    read -r -a words <<<"$pipeline"
    for word in "${words[@]}"; do
        [[ $word == storlet_handler ]] && return 0
    done
    for anchor in "$@"; do
        for word in "${words[@]}"; do
            [[ $word == "$anchor" ]] && found=$anchor && break 2
        done
    done
    [[ -n $found ]] || die $LINENO "none of ($*) in the pipeline of $file"
    for word in "${words[@]}"; do
        if [[ -n $found && $word == "$found" ]]; then
            new+=(storlet_handler)
            found=""
        fi
        new+=("$word")
    done
    iniset "$file" pipeline:main pipeline "${new[*]}"
}

# _storlets_filter_section FILE proxy|object
function _storlets_filter_section {
    local file=$1 server=$2 section=filter:storlet_handler
    iniset "$file" $section use "egg:storlets#storlet_handler"
    iniset "$file" $section execution_server "$server"
    iniset "$file" $section storlet_gateway_module docker
    iniset "$file" $section storlet_gateway_conf "$STORLETS_GATEWAY_CONF"
    iniset "$file" $section storlet_container "$STORLETS_CONTAINER"
    iniset "$file" $section storlet_dependency "$STORLETS_DEPENDENCY_CONTAINER"
    iniset "$file" $section storlet_logcontainer "$STORLETS_LOG_CONTAINER"
    iniset "$file" $section internal_client_conf_path "$SWIFT_CONF_DIR/internal-client.conf"
}

function _storlets_java_enabled {
    [[ ${STORLETS_JAVA,,} == true ]]
}

function install_storlets {
    install_package docker.io debootstrap
    if _storlets_java_enabled; then
        install_package default-jdk-headless gcc libc6-dev
    fi
    setup_develop "$STORLETS_DIR"
}

function configure_storlets {
    local proxy=$SWIFT_CONF_DIR/proxy-server.conf conf found=0
    _storlets_insert_before "$proxy" copy slo
    _storlets_filter_section "$proxy" proxy
    for conf in "$SWIFT_CONF_DIR"/object-server/*.conf; do
        [[ -f $conf ]] || continue
        found=1
        _storlets_insert_before "$conf" object-server
        _storlets_filter_section "$conf" object
    done
    ((found)) || die $LINENO "no object server config in $SWIFT_CONF_DIR/object-server"
    iniset "$STORLETS_GATEWAY_CONF" DEFAULT host_root "$STORLETS_HOST_ROOT"
    iniset "$STORLETS_GATEWAY_CONF" DEFAULT storlet_timeout "$STORLETS_STORLET_TIMEOUT"
    sudo mkdir -p "$STORLETS_HOST_ROOT"
}

# The swift CLI as the admin user on the default (demo) project.
function _storlets_swift {
    swift --os-auth-url "${OS_AUTH_URL:-$KEYSTONE_SERVICE_URI/v3}" \
        --auth-version 3 \
        --os-username "${OS_USERNAME:-admin}" --os-password "${OS_PASSWORD:-$ADMIN_PASSWORD}" \
        --os-user-domain-id "${OS_USER_DOMAIN_ID:-default}" \
        --os-project-name "$STORLETS_DEFAULT_PROJECT" \
        --os-project-domain-id "${OS_PROJECT_DOMAIN_ID:-default}" \
        "$@"
}

function start_storlets {
    local tag container image_opts=()
    _storlets_java_enabled && image_opts=(--java)
    tag=$(sudo "$STORLETS_BUILD_IMAGE_CMD" "${image_opts[@]}" | tail -n1)
    [[ -n $tag ]] || die $LINENO "$STORLETS_BUILD_IMAGE_CMD printed no image tag"
    iniset "$STORLETS_GATEWAY_CONF" DEFAULT sandbox_image "$tag"
    # The filter reads the gateway conf when Swift starts, which devstack did
    # before this phase: restart Swift so it uses the image just built.
    if declare -F stop_swift >/dev/null && declare -F start_swift >/dev/null; then
        stop_swift
        start_swift
    fi
    _storlets_swift post -H 'X-Account-Meta-Storlet-Enabled: True'
    for container in "$STORLETS_CONTAINER" "$STORLETS_DEPENDENCY_CONTAINER" \
        "$STORLETS_LOG_CONTAINER"; do
        _storlets_swift post "$container"
    done
}

# Remove every sandbox container of this node (labelled by the gateway).
function stop_storlets {
    local ids
    ids=$(sudo docker ps -aq --filter label=managed_by=storlets 2>/dev/null || true)
    if [[ -n $ids ]]; then
        # shellcheck disable=SC2086  # one id per word
        sudo docker rm -f $ids >/dev/null || true
    fi
}

function cleanup_storlets {
    sudo rm -rf "$STORLETS_HOST_ROOT"
    sudo rm -f "$STORLETS_GATEWAY_CONF"
}

if is_service_enabled storlets; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing storlets"
        install_storlets
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring storlets"
        configure_storlets
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "Building the storlets sandbox image, enabling storlets"
        start_storlets
    fi

    if [[ "$1" == "unstack" ]]; then
        stop_storlets
    fi

    if [[ "$1" == "clean" ]]; then
        cleanup_storlets
    fi
fi
