#!/usr/bin/env bash
# Build (or reuse) the storlets sandbox image and print its tag.
#
#   devstack/build-image.sh          -> last stdout line: storlets-sandbox:<hash>
#   devstack/build-image.sh --java   -> last stdout line: storlets-sandbox-java:<hash>
#
# Content-addressed images:
#   storlets-base:<h1>     debootstrap --variant=minbase --include=python3 bookworm,
#                          trimmed, imported with `docker import`.
#                          h1 = sha256(suite, packages, mirror, BUILD_IMAGE_VERSION)[:16]
#   storlets-sandbox:<h2>  sandbox/Dockerfile FROM the base, adding the agent.
#                          h2 = sha256(base tag, Dockerfile, every copied file)[:16]
#   storlets-sandbox-java:<h3>  (--java) sandbox/Dockerfile.layer FROM the
#                          sandbox image: Debian's headless JRE (.debs the
#                          host's apt resolves against the image's own package
#                          database) and the Java engine (java/build.sh --runtime).
#   storlets-sandbox-custom:<h4>  (--packages) the same kind of layer with an
#                          operator's extra Debian packages, on the image above
#                          (for one account: [account:AUTH_x] sandbox_image).
#                          h3, h4 = sha256(lower tag, packages, .deb file names,
#                          Dockerfile.layer, the Java engine's sources)[:16]
# Each is built only when its tag is missing. The Debian mirror is the one the
# machine's apt sources use (override: STORLETS_DEBIAN_MIRROR=<url>).
# Progress goes to stderr; the rootfs is built under /var/cache/storlets-aio.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=devstack/lib/common.sh
. "$HERE/lib/common.sh"

# Bump when the way the base image is made changes (trim list, import options...).
BUILD_IMAGE_VERSION=1
SUITE=bookworm
BASE_PACKAGES=python3
CACHE_DIR=${STORLETS_AIO_CACHE_DIR:-/var/cache/storlets-aio}
BUILD_LOG=$AIO_LOG_DIR/build-image.log

# The files of the sandbox image, and the only list of them: <repository path>:<path
# under /opt/storlets in the image> (the agent and the stdlib-only parts of the
# storlets package it imports; see sandbox/Dockerfile).
CONTEXT_FILES=(storlets/__init__.py:storlets/__init__.py storlets/layout.py:storlets/layout.py
    storlets/sbus:storlets/sbus sandbox/storlets_agent:storlets_agent)
# The Java layer: its packages, and the sources of what java/build.sh --runtime makes.
JAVA_PACKAGES=(default-jre-headless)
JAVA_SOURCES=(java/build.sh java/api/src sandbox/java/daemon/src sandbox/java/jni)

usage() {
    cat <<'USAGE'
usage: devstack/build-image.sh [--base-only | [--java] [--packages "P1 P2"]]

Builds or reuses the storlets sandbox image; prints its tag as the last stdout line.
  --base-only   only build/reuse the debootstrap base image and print its tag
  --java        also build/reuse the Java layer (JRE + Java engine) and print
                its tag: the image for operators who run Java storlets (needs
                javac and gcc on this host: apt-get install default-jdk-headless gcc)
  --packages L  also a layer with these Debian packages (space- or comma-separated),
                on top of the image above; prints its tag (storlets-sandbox-custom:<hash>),
                to set as sandbox_image of the accounts that need them
Environment: STORLETS_DEBIAN_MIRROR overrides the mirror read from apt sources.
USAGE
}

# Candidate mirrors from the apt sources, one "score uri" per line. Only
# entries of type deb, with suite exactly $SUITE and component main qualify;
# entries signed by a non-Debian keyring score lower, URIs ending in /debian
# score higher.
apt_source_candidates() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] || continue
        awk -v suite="$SUITE" '
            function score(uri, signed) {
                s = 0
                if (signed == "" || signed ~ /debian-archive/) s += 2
                if (uri ~ /\/debian\/?$/) s += 1
                return s
            }
            function flush() {
                if ((" " types " ") ~ / deb / && (" " suites " ") ~ (" " suite " ") &&
                    (" " comps " ") ~ / main / && tolower(enabled) != "no" && uris != "") {
                    split(uris, u, " ")
                    print score(u[1], signed), u[1]
                }
                types = uris = suites = comps = signed = enabled = ""
                last = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/ { if (last == "signed-by") signed = signed " " $0; next }
            {
                i = index($0, ":")
                if (i == 0) next
                key = tolower(substr($0, 1, i - 1))
                val = substr($0, i + 1)
                gsub(/^[ \t]+|[ \t]+$/, "", val)
                last = key
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "components") comps = val
                else if (key == "signed-by") signed = val
                else if (key == "enabled") enabled = val
            }
            END { flush() }
        ' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r $f ]] || continue
        awk -v suite="$SUITE" '
            /^[ \t]*deb[ \t]/ {
                line = $0
                sub(/#.*/, "", line)
                signed = ""
                if (match(line, /\[[^]]*\]/)) {
                    opts = substr(line, RSTART + 1, RLENGTH - 2)
                    line = substr(line, 1, RSTART - 1) substr(line, RSTART + RLENGTH)
                    if (match(opts, /signed-by=[^ ]+/)) signed = substr(opts, RSTART, RLENGTH)
                }
                n = split(line, w, /[ \t]+/)
                # w[1] = deb, w[2] = uri, w[3] = suite, w[4..] = components
                if (n < 4 || w[3] != suite) next
                main = 0
                for (k = 4; k <= n; k++) if (w[k] == "main") main = 1
                if (!main) next
                s = 0
                if (signed == "" || signed ~ /debian-archive/) s += 2
                if (w[2] ~ /\/debian\/?$/) s += 1
                print s, w[2]
            }
        ' "$f"
    done
}

find_debian_mirror() {
    if [[ -n ${STORLETS_DEBIAN_MIRROR:-} ]]; then
        printf '%s\n' "$STORLETS_DEBIAN_MIRROR"
        return
    fi
    local _score uri list
    # Stable sort: among equal scores the first entry apt lists wins.
    while read -r _score uri; do
        # Debian cloud images point apt at a local mirror list file.
        if [[ $uri =~ ^mirror\+file:(//)?(/.+)$ ]]; then
            list=${BASH_REMATCH[2]}
            [[ -r $list ]] || continue
            uri=$(awk '!/^[ \t]*(#|$)/ { print $1; exit }' "$list")
        fi
        if [[ $uri =~ ^(https?|ftp|file):// ]]; then
            printf '%s\n' "${uri%/}"
            return
        fi
    done < <(apt_source_candidates | sort -s -k1,1nr)
    die "no Debian '$SUITE' main archive found in /etc/apt/sources.list{,.d/*} (set STORLETS_DEBIAN_MIRROR=<url>)"
}

# Let debootstrap (wget) use apt's proxy, if apt has one and the env has none.
use_apt_proxy() {
    local http_proxy_apt="" https_proxy_apt=""
    eval "$(apt-config shell http_proxy_apt Acquire::http::Proxy https_proxy_apt Acquire::https::Proxy 2>/dev/null || true)"
    if [[ -z ${http_proxy:-} && -n $http_proxy_apt && $http_proxy_apt != DIRECT ]]; then
        export http_proxy=$http_proxy_apt
    fi
    if [[ -z ${https_proxy:-} && -n $https_proxy_apt && $https_proxy_apt != DIRECT ]]; then
        export https_proxy=$https_proxy_apt
    fi
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Unmount anything left mounted below $1 (a failed debootstrap can leave /proc).
umount_below() {
    local dir=$1 mnt
    while read -r mnt; do
        umount -l "$mnt" || true
    done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r)
    if awk -v d="$dir/" 'index($2, d) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        die "something is still mounted below $dir; not deleting it"
    fi
}

remove_rootfs() {
    local dir=$1
    [[ -e $dir ]] || return 0
    umount_below "$dir"
    rm -rf --one-file-system "$dir"
}

# Keep the image small: no package lists, caches, docs (copyright files stay),
# man/info pages, locales, logs or device nodes (docker provides /dev).
trim_rootfs() {
    local root=$1
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
        "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/lintian \
        "$root"/usr/share/linda "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/* \
        "$root"/root/.cache
    mkdir -p "$root"/var/lib/apt/lists/partial "$root"/var/cache/apt/archives/partial
    if [[ -d $root/usr/share/locale ]]; then
        find "$root"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    fi
    if [[ -d $root/usr/share/doc ]]; then
        find "$root"/usr/share/doc -mindepth 1 ! -type d ! -name copyright -delete
        find "$root"/usr/share/doc -mindepth 1 -type d -empty -delete
    fi
    if [[ -d $root/dev ]]; then
        find "$root"/dev -mindepth 1 -delete
    fi
}

# import_rootfs DIR TAG MIRROR
import_rootfs() {
    tar --numeric-owner -C "$1" -c . |
        docker import \
            -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            -c 'ENV LANG=C.UTF-8' \
            -c 'CMD ["/usr/bin/python3"]' \
            -m "storlets base: debootstrap $SUITE minbase + $BASE_PACKAGES from $3" \
            - "$2"
}

build_base() {
    local mirror tag hash
    mirror=$(find_debian_mirror)
    hash=$(printf 'version=%s\nsuite=%s\npackages=%s\nmirror=%s\n' \
        "$BUILD_IMAGE_VERSION" "$SUITE" "$BASE_PACKAGES" "$mirror" | sha16)
    tag=storlets-base:$hash
    if image_exists "$tag"; then
        log "base image $tag exists, reusing it"
        printf '%s\n' "$tag"
        return
    fi
    command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
    log "building sandbox base image $tag (debootstrap $SUITE from $mirror, ~1-2 min)..."
    use_apt_proxy
    mkdir -p "$CACHE_DIR/debootstrap-debs"
    local rootfs=$CACHE_DIR/rootfs-$hash.tmp
    remove_rootfs "$rootfs"
    mkdir -p "$rootfs"
    local keyring=()
    if [[ -r /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
        keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    fi
    if ! run_long "$BUILD_LOG" "debootstrap $SUITE" \
        debootstrap --variant=minbase --include="$BASE_PACKAGES" "${keyring[@]}" \
        --cache-dir="$CACHE_DIR/debootstrap-debs" "$SUITE" "$rootfs" "$mirror"; then
        remove_rootfs "$rootfs"
        die "debootstrap failed (full log: $BUILD_LOG)"
    fi
    [[ -x $rootfs/usr/bin/python3 ]] || die "debootstrap produced no /usr/bin/python3"
    umount_below "$rootfs"
    log "trimming the rootfs ($(du -sh "$rootfs" | cut -f1) before)"
    trim_rootfs "$rootfs"
    log "importing the rootfs ($(du -sh "$rootfs" | cut -f1)) as $tag"
    if ! run_long "$BUILD_LOG" "docker import $tag" import_rootfs "$rootfs" "$tag" "$mirror"; then
        remove_rootfs "$rootfs"
        die "docker import failed (full log: $BUILD_LOG)"
    fi
    remove_rootfs "$rootfs"
    printf '%s\n' "$tag"
}

# Copy the Dockerfile and the image's files (CONTEXT_FILES, under agent/ as
# they are installed) into a fresh context dir, with normalized permissions
# (the image runs as an unprivileged user).
assemble_context() {
    local ctx=$1 entry src dest
    for entry in "${CONTEXT_FILES[@]}"; do
        src=${entry%%:*}
        dest=$ctx/agent/${entry#*:}
        [[ -e $REPO_ROOT/$src ]] || die "$REPO_ROOT/$src is missing"
        mkdir -p "$(dirname "$dest")"
        if [[ -d $REPO_ROOT/$src ]]; then
            mkdir -p "$dest"
            tar -C "$REPO_ROOT/$src" --exclude=__pycache__ --exclude='*.pyc' \
                --exclude='*.pyo' --exclude=.pytest_cache -cf - . | tar -C "$dest" -xf -
        else
            cp "$REPO_ROOT/$src" "$dest"
        fi
    done
    cp "$REPO_ROOT/sandbox/Dockerfile" "$ctx/Dockerfile"
    chmod -R u=rwX,go=rX "$ctx"
}

# Hash of a context dir: every path with its type and mode, and every file's content.
context_hash() {
    local ctx=$1
    (
        cd "$ctx"
        find . -print0 | LC_ALL=C sort -z | xargs -0 stat -c '%n %F %a'
        find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
    ) | sha256sum | cut -c1-64
}

build_sandbox() {
    local base=$1 ctx hash tag
    ctx=$(mktemp -d /tmp/storlets-image-ctx.XXXXXX)
    # shellcheck disable=SC2064  # expand now: ctx is local
    trap "rm -rf '$ctx'" EXIT
    assemble_context "$ctx"
    hash=$(printf 'base=%s\ncontext=%s\n' "$base" "$(context_hash "$ctx")" | sha16)
    tag=storlets-sandbox:$hash
    if image_exists "$tag"; then
        log "sandbox image $tag exists, reusing it"
    else
        log "building sandbox image $tag (docker build, a few seconds)..."
        # The classic builder: it uses the local base image without asking a registry.
        if ! DOCKER_BUILDKIT=0 run_long "$BUILD_LOG" "docker build $tag" \
            docker build --network none --build-arg "BASE=$base" -t "$tag" "$ctx"; then
            die "docker build failed (full log: $BUILD_LOG)"
        fi
    fi
    rm -rf "$ctx"
    trap - EXIT
    printf '%s\n' "$tag"
}

# apt-get options that resolve packages against an image's dpkg database
# ($1) and keep downloads in $2, leaving the host's apt state alone.
apt_for_image() {
    printf '%s\n' -o Debug::NoLocking=1 -o "Dir::State::status=$1" \
        -o "Dir::Cache::archives=$2" --no-install-recommends
}

# layer_debs IMAGE WORKDIR PACKAGE...: the .deb file names those packages
# need on top of IMAGE, one per line (none if they are all there).
layer_debs() {
    local image=$1 work=$2 cid opts
    shift 2
    cid=$(docker create "$image")
    docker cp "$cid:/var/lib/dpkg/status" "$work/status" >/dev/null
    docker rm "$cid" >/dev/null
    mkdir -p "$work/debs/partial"
    mapfile -t opts < <(apt_for_image "$work/status" "$work/debs")
    if ! apt-get -qq "${opts[@]}" --print-uris install "$@" >"$work/uris" 2>"$work/apt.err"; then
        log "apt cannot resolve $* yet: apt-get update"
        run_long "$BUILD_LOG" "apt-get update" apt-get -o DPkg::Lock::Timeout=600 update
        apt-get -qq "${opts[@]}" --print-uris install "$@" >"$work/uris" ||
            die "apt cannot resolve $* for the image"
    fi
    awk '{ print $2 }' "$work/uris" | LC_ALL=C sort
}

# build_layer REPO BASE_IMAGE WITH_JAVA PACKAGE...: an image REPO:<hash>
# made from sandbox/Dockerfile.layer on BASE_IMAGE with the packages (and,
# if WITH_JAVA is 1, the Java engine); reused when its tag exists.
build_layer() {
    local repo=$1 base=$2 with_java=$3 work hash tag names
    shift 3
    if ((with_java)); then
        command -v javac >/dev/null || die "javac is not installed (apt-get install default-jdk-headless)"
        command -v gcc >/dev/null || die "gcc is not installed (apt-get install gcc)"
    fi
    work=$(mktemp -d /tmp/storlets-layer-ctx.XXXXXX)
    # shellcheck disable=SC2064  # expand now: work is local
    trap "rm -rf '$work'" EXIT
    names=$(layer_debs "$base" "$work" "$@")
    hash=$(
        printf 'base=%s\npackages=%s\ndebs=%s\njava=%s\n' "$base" "$*" "$names" "$with_java"
        sha256sum "$REPO_ROOT/sandbox/Dockerfile.layer" | cut -c1-64
        if ((with_java)); then
            cd "$REPO_ROOT" && find "${JAVA_SOURCES[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
        fi
    )
    hash=$(printf '%s' "$hash" | sha16)
    tag=$repo:$hash
    if image_exists "$tag"; then
        log "image $tag exists, reusing it"
    else
        log "building image $tag ($*: download + dpkg, up to a minute)..."
        local opts ctx=$work/ctx
        mkdir -p "$ctx/debs" "$ctx/java"
        if [[ -n $names ]]; then
            mapfile -t opts < <(apt_for_image "$work/status" "$work/debs")
            use_apt_proxy
            run_long "$BUILD_LOG" "download $*" \
                apt-get -q -y "${opts[@]}" --download-only install "$@" ||
                die "cannot download $* (full log: $BUILD_LOG)"
            cp "$work"/debs/*.deb "$ctx/debs/"
        fi
        if ((with_java)); then
            run_long "$BUILD_LOG" "java/build.sh --runtime" bash "$REPO_ROOT/java/build.sh" "$ctx/java" --runtime ||
                die "building the Java engine failed (full log: $BUILD_LOG)"
        fi
        cp "$REPO_ROOT/sandbox/Dockerfile.layer" "$ctx/Dockerfile"
        chmod -R u=rwX,go=rX "$ctx"
        if ! DOCKER_BUILDKIT=0 run_long "$BUILD_LOG" "docker build $tag" \
            docker build --network none --build-arg "BASE=$base" -t "$tag" "$ctx"; then
            die "docker build failed (full log: $BUILD_LOG)"
        fi
    fi
    rm -rf "$work"
    trap - EXIT
    printf '%s\n' "$tag"
}

main() {
    local base_only=0 java=0 packages=()
    while (($#)); do
        case $1 in
        --base-only) base_only=1 ;;
        --java) java=1 ;;
        --packages)
            (($# >= 2)) || {
                usage >&2
                return 2
            }
            read -r -a packages <<<"${2//,/ }"
            shift
            ;;
        -h | --help)
            usage
            return 0
            ;;
        *)
            usage >&2
            return 2
            ;;
        esac
        shift
    done
    require_root
    command -v docker >/dev/null || die "docker is not installed (apt-get install docker.io)"
    docker info >/dev/null 2>&1 || die "docker is not running (devstack/aio.sh up starts it)"
    mkdir -p "$CACHE_DIR" "$AIO_LOG_DIR"
    exec 8>"$CACHE_DIR/build-image.lock"
    if ! flock -n 8; then
        log "another image build is running; waiting for it..."
        flock -w 1800 8 || die "timed out waiting for the other image build"
    fi
    local base
    base=$(build_base | tail -n1)
    if ((base_only)); then
        printf '%s\n' "$base"
        return
    fi
    local image
    image=$(build_sandbox "$base" | tail -n1)
    if ((java)); then
        image=$(build_layer storlets-sandbox-java "$image" 1 "${JAVA_PACKAGES[@]}" | tail -n1)
    fi
    if ((${#packages[@]})); then
        image=$(build_layer storlets-sandbox-custom "$image" 0 "${packages[@]}" | tail -n1)
    fi
    printf '%s\n' "$image"
}

main "$@"
