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

# select_backends_and_build: from --backend ($BACKEND) and OMNIVOX_BENCH_PG /
# OMNIVOX_TEST_PG, set PG_URL and the BACKENDS array (PostgreSQL is skipped
# with a reason when "all" and it is missing or unreachable); build the
# release binary unless --skip-build. Reads BACKEND, WORK, SKIP_BUILD and BIN
# from the calling script.
# shellcheck disable=SC2153
select_backends_and_build() {
    PG_URL=${OMNIVOX_BENCH_PG:-${OMNIVOX_TEST_PG:-}}
    BACKENDS=()
    case $BACKEND in
    sqlite) BACKENDS=(sqlite) ;;
    postgres)
        [ -n "$PG_URL" ] || die "--backend postgres needs OMNIVOX_BENCH_PG or OMNIVOX_TEST_PG"
        BACKENDS=(postgres)
        ;;
    all)
        BACKENDS=(sqlite)
        mkdir -p "$WORK/results/postgres"
        if [ -z "$PG_URL" ]; then
            echo "OMNIVOX_BENCH_PG / OMNIVOX_TEST_PG not set" >"$WORK/results/postgres/skipped"
            log "PostgreSQL skipped: OMNIVOX_BENCH_PG / OMNIVOX_TEST_PG not set"
        else
            BACKENDS+=(postgres)
        fi
        ;;
    esac
    if [[ " ${BACKENDS[*]} " == *" postgres "* ]]; then
        need_apt postgresql-client psql
        if ! psql "$PG_URL" -X -q -tA -c 'SELECT 1' >/dev/null 2>"$WORK/pg-check.err"; then
            [ "$BACKEND" = postgres ] && die "PostgreSQL not reachable: $(cat "$WORK/pg-check.err")"
            # "all": measure what is available.
            echo "PostgreSQL not reachable: $(head -c 300 "$WORK/pg-check.err")" >"$WORK/results/postgres/skipped"
            log "PostgreSQL skipped: not reachable"
            BACKENDS=(sqlite)
        fi
    fi

    if [ "$SKIP_BUILD" -eq 0 ]; then
        log "cargo build --release --locked -p omnivox"
        cargo build --release --locked -p omnivox >&2
    fi
    [ -x "$BIN" ] || die "$BIN not found (build it, or drop --skip-build)"

    # Settings inherited from the caller's environment also reach the server.
    inherited=$(compgen -e | grep '^OMNIVOX__' || true)
    [ -z "$inherited" ] || log "note: inherited settings also apply: $(echo "$inherited" | tr '\n' ' ')"
}
