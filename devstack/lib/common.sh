# shellcheck shell=bash
# Helpers shared by devstack/aio.sh and devstack/build-image.sh (sourced, not run).
#
# Progress goes to stderr as "[aio] ..." lines so that stdout stays free for
# results (build-image.sh prints the image tag there).
#
# AIO_QUIET=1 makes run_long() send a long step's output to its log file and
# print a heartbeat line every 10 s instead of streaming the output.

AIO_LOG_DIR=${AIO_LOG_DIR:-/var/log/storlets-aio}

log() { printf '[aio] %s\n' "$*" >&2; }
warn() { printf '[aio] WARNING: %s\n' "$*" >&2; }
die() {
    printf '[aio] ERROR: %s\n' "$*" >&2
    exit 1
}

is_quiet() { [[ ${AIO_QUIET:-0} == 1 ]]; }

require_root() {
    [[ $(id -u) -eq 0 ]] || die "run me as root (I install packages and start servers)"
}

# First 16 hex digits of the sha256 of stdin.
sha16() { sha256sum | cut -c1-16; }

# Print the last lines of a log file, indented, to stderr.
show_tail() {
    local file=$1 lines=${2:-40}
    if [[ -s $file ]]; then
        printf '[aio] ---- last %s lines of %s ----\n' "$lines" "$file" >&2
        tail -n "$lines" "$file" | sed 's/^/    /' >&2
        printf '[aio] ---- end of %s ----\n' "$file" >&2
    else
        printf '[aio] (%s is empty or missing)\n' "$file" >&2
    fi
}

# run_long LOGFILE DESCRIPTION CMD...
# Runs a long step; its output is appended to LOGFILE and, unless quiet,
# streamed indented to stderr. In quiet mode a heartbeat line is printed every
# 10 s. On failure, shows the tail of LOGFILE and returns the command's status.
run_long() {
    local logfile=$1 desc=$2
    shift 2
    mkdir -p "$(dirname "$logfile")"
    printf '==== %s: %s\n' "$(date '+%F %T')" "$desc" >>"$logfile"
    local rc=0 start=$SECONDS
    if is_quiet; then
        "$@" >>"$logfile" 2>&1 </dev/null &
        local pid=$! n=0
        while kill -0 "$pid" 2>/dev/null; do
            sleep 1
            n=$((n + 1))
            if ((n % 10 == 0)); then
                log "  ... still ${desc} ($((SECONDS - start))s)"
            fi
        done
        wait "$pid" || rc=$?
    else
        { "$@" </dev/null 2>&1 | tee -a "$logfile" | sed -u 's/^/    | /' >&2; } || rc=$?
    fi
    if ((rc != 0)); then
        printf '[aio] ERROR: %s failed (exit %s) after %ss\n' "$desc" "$rc" "$((SECONDS - start))" >&2
        show_tail "$logfile" 40
        return "$rc"
    fi
    log "  done: ${desc} ($((SECONDS - start))s)"
}

# ensure_python_venv DIR: DIR is a working venv of the system's python3
# (made anew when missing or broken, e.g. after a Python upgrade).
ensure_python_venv() {
    local dir=$1
    if ! "$dir/bin/python" -c 'import sys' >/dev/null 2>&1; then
        log "creating the venv $dir"
        rm -rf "$dir"
        mkdir -p "$(dirname "$dir")"
        /usr/bin/python3 -m venv "$dir"
    fi
}
