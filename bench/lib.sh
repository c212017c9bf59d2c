# Helpers shared by the benchmark scripts (sourced, not run).
# shellcheck shell=bash

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

APT_UPDATED=0
need_apt() {
    local pkg=$1 cmd=$2
    command -v "$cmd" >/dev/null 2>&1 && return 0
    [ "$(id -u)" -eq 0 ] || die "'$cmd' is missing; install the '$pkg' package"
    log "installing $pkg (for $cmd)"
    if [ "$APT_UPDATED" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null >&2
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" </dev/null >&2
}

# http_status METHOD URL [curl args...]: the status code of one request.
http_status() {
    local method=$1 url=$2
    shift 2
    curl -sS -o /dev/null -w '%{http_code}' --max-time 10 -X "$method" "$@" "$url" 2>/dev/null || echo 000
}

# fail MESSAGE: record a fatal error for the report and leave the subshell.
fail() {
    log "error ($BACKEND_NAME): $*"
    echo "$*" >"$BACKEND_DIR/error"
    exit 1
}

# Last-resort cleanup: kill any server still running, drop the temp dir.
# (Each backend also cleans up after itself; see run_backend.)
cleanup_all() {
    local f pid
    for f in "$WORK"/results/*/server.pid; do
        [ -e "$f" ] || continue
        pid=$(cat "$f")
        kill "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
