#!/usr/bin/env bash
# HTTP benchmark (a measurement, not a test).
#
# Runs the release server pinned to ONE core (core 0, one Tokio worker) and
# drives it with wrk pinned to core 1. For each database backend it measures
#   baseline_healthz  GET /healthz                 (no auth, no database)
#   auth_read         GET /api/v1/tenants/<id>     (Bearer token; cached
#                     permission and tenant settings, as every tenant request)
#   db_read           GET /api/v1/tenants/<id>/members/<user id> (Bearer
#                     token; two database reads per request)
#   login             POST /api/v1/auth/login      (argon2-bound, few connections)
# and prints one JSON object to stdout (also saved to
# bench/results/http-latest.json). Progress goes to stderr.
#
#   bash bench/http.sh [--duration SECS] [--backend sqlite|postgres|all] [--skip-build]
#
# PostgreSQL is measured when OMNIVOX_BENCH_PG (or else OMNIVOX_TEST_PG) holds
# a postgres:// URL; the server gets a throwaway schema, dropped afterwards.
#
# Exit status: 0 when every measured scenario ran cleanly (all 2xx, no socket
# errors), 1 otherwise (the JSON is still printed). Missing a target does not
# fail the run; see "met" in the JSON.
set -euo pipefail
CALLER_DIR=$PWD
cd "$(dirname "$0")/.."
ROOT=$PWD
# OMNIVOX_BENCH_BIN: measure another build of the server (implies nothing
# about building; combine with --skip-build).
BIN=${OMNIVOX_BENCH_BIN:-$ROOT/target/release/omnivox}

# Targets, checked against the SQLite auth_read numbers.
TARGET_AUTH_READ_RPS_SQLITE=20000
TARGET_AUTH_READ_P99_MS_SQLITE=5

# wrk settings.
WRK_CONNECTIONS=32
WRK_LOGIN_CONNECTIONS=4
WARMUP_SECS=2

DURATION=10
BACKEND=all
SKIP_BUILD=0
PARSE_WRK=""

# Shared helpers: log, die, need_apt, http_status, fail, cleanup_all.
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

usage() {
    cat >&2 <<'EOF'
usage: bench/http.sh [--duration SECS] [--backend sqlite|postgres|all] [--skip-build]

  --duration SECS   length of each wrk run (default 10)
  --backend NAME    sqlite, postgres or all (default: all that are available;
                    postgres needs OMNIVOX_BENCH_PG or OMNIVOX_TEST_PG)
  --skip-build      use the existing target/release/omnivox
  --parse-wrk FILE  debug: parse a saved `wrk --latency` output, print the
                    scenario JSON and exit
EOF
}

while [ $# -gt 0 ]; do
    case $1 in
    --duration) [ $# -ge 2 ] || die "--duration needs a value"; DURATION=$2; shift 2 ;;
    --duration=*) DURATION=${1#*=}; shift ;;
    --backend) [ $# -ge 2 ] || die "--backend needs a value"; BACKEND=$2; shift 2 ;;
    --backend=*) BACKEND=${1#*=}; shift ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --parse-wrk) [ $# -ge 2 ] || die "--parse-wrk needs a file"; PARSE_WRK=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
    esac
done
[[ $DURATION =~ ^[1-9][0-9]*$ ]] || die "--duration must be a whole number of seconds, got '$DURATION'"
case $BACKEND in sqlite | postgres | all) ;; *) die "--backend must be sqlite, postgres or all, got '$BACKEND'" ;; esac

# Scratch space for the whole run; per-backend results under $WORK/results.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/omnivox-bench.XXXXXX")
mkdir -p "$WORK/results"

trap cleanup_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Python helper (stdlib only): JSON handling and wrk output parsing.
cat >"$WORK/bench.py" <<'PY'
import json, os, re, secrets, sys

TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
METRIC = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}


def parse_wrk(text, status=200, exit_code=0, connections=None):
    """Turn `wrk --latency` output into {"rps", "p99_ms", "ok", ...}."""
    out = {"rps": None, "p99_ms": None, "ok": False}
    problems = []
    m = re.search(r"^Requests/sec:\s+([0-9.]+)\s*$", text, re.M)
    if m:
        out["rps"] = float(m.group(1))
    else:
        problems.append("no Requests/sec line")
    m = re.search(r"^\s*99(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m|h)\s*$", text, re.M)
    if m:
        out["p99_ms"] = round(float(m.group(1)) * TIME_UNITS_MS[m.group(2)], 3)
    else:
        problems.append("no 99% latency line (was --latency given?)")
    m = re.search(r"^\s*([0-9.]+)([kMGTP]?) requests in ", text, re.M)
    out["requests"] = int(round(float(m.group(1)) * METRIC[m.group(2)])) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    if connections is not None:
        out["connections"] = connections
    out["probe_status"] = status
    if exit_code != 0:
        problems.append(f"wrk exited with status {exit_code}")
    if not 200 <= status <= 299:
        problems.append(f"probe request got HTTP {status}")
    if out["non_2xx"]:
        problems.append(f"{out['non_2xx']} non-2xx responses")
    if out["socket_errors"]:
        problems.append(f"{out['socket_errors']} socket errors")
    if not out["rps"]:
        problems.append("no completed requests")
    out["ok"] = not problems
    if problems:
        out["problems"] = problems
    return out


def cmd_parse_wrk(args):
    path, status, exit_code, conns = args[0], 200, 0, None
    rest = args[1:]
    while rest:
        flag, value, rest = rest[0], rest[1], rest[2:]
        if flag == "--status":
            status = int(value) if value.isdigit() else 0
        elif flag == "--exit":
            exit_code = int(value)
        elif flag == "--connections":
            conns = int(value)
    with open(path, encoding="utf-8", errors="replace") as f:
        print(json.dumps(parse_wrk(f.read(), status, exit_code, conns)))


def cmd_summary(args):
    """One human line for a scenario JSON file."""
    d = json.load(open(args[0]))
    rps = "-" if d["rps"] is None else f"{d['rps']:.1f}"
    p99 = "-" if d["p99_ms"] is None else f"{d['p99_ms']:.2f}"
    tail = "ok" if d["ok"] else "NOT OK: " + "; ".join(d.get("problems", []))
    print(f"{rps} req/s, p99 {p99} ms, {tail}")


def cmd_password(_args):
    # 32 URL-safe characters; must not contain the email's local part.
    while True:
        pw = secrets.token_urlsafe(24)
        if "bench" not in pw.lower():
            print(pw)
            return


def cmd_hex(_args):
    print(secrets.token_hex(5))


def cmd_ports(args):
    # Hold all sockets open at once so the ports differ.
    import socket
    socks = []
    for _ in range(int(args[0])):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()


def cmd_login_body(args):
    print(json.dumps({"email": args[0], "password": args[1]}))


def cmd_login_lua(args):
    # A wrk script that POSTs the login body (as an escaped Lua string).
    body = json.dumps({"email": args[0], "password": args[1]})
    lua = body.replace("\\", "\\\\").replace('"', '\\"')
    print('wrk.method = "POST"')
    print(f'wrk.body = "{lua}"')
    print('wrk.headers["Content-Type"] = "application/json"')


def cmd_get(args):
    """Print a string field (a dotted path) of the JSON object in a file."""
    v = json.load(open(args[0]))
    for part in args[1].split("."):
        v = v.get(part) if isinstance(v, dict) else None
    d = v
    if not isinstance(v, str) or not v:
        sys.exit(f"no string field {args[1]!r}")
    print(v)


def cmd_first_tenant(args):
    d = json.load(open(args[0]))
    ms = d.get("memberships") if isinstance(d, dict) else None
    if not ms or not isinstance(ms[0], dict) or not ms[0].get("tenant_id"):
        sys.exit(f"no memberships[0].tenant_id in {json.dumps(d)[:300]}")
    print(ms[0]["tenant_id"])


def cmd_report(args):
    """Assemble the final JSON from $WORK/results/<backend>/*.json."""
    results_dir, duration = args[0], int(args[1])
    num = lambda v: int(v) if v.isdigit() else float(v)
    targets = {
        "auth_read_rps_sqlite": num(os.environ["TARGET_AUTH_READ_RPS_SQLITE"]),
        "auth_read_p99_ms_sqlite": num(os.environ["TARGET_AUTH_READ_P99_MS_SQLITE"]),
    }
    report = {
        "cores_server": 1,
        "duration_s": duration,
        "wrk": {
            "threads": 1,
            "connections": int(os.environ["WRK_CONNECTIONS"]),
            "login_connections": int(os.environ["WRK_LOGIN_CONNECTIONS"]),
        },
        "cpu": cpu_model(),
        "git_rev": os.environ.get("GIT_REV", "unknown"),
        "timestamp": os.environ.get("STAMP", ""),
    }
    all_ok = True
    for backend in ("sqlite", "postgres"):
        bdir = os.path.join(results_dir, backend)
        entry = {}
        for name in ("skipped", "error"):
            p = os.path.join(bdir, name)
            if os.path.exists(p):
                entry[name] = open(p).read().strip()
        for scen in ("baseline_healthz", "auth_read", "db_read", "login"):
            p = os.path.join(bdir, scen + ".json")
            if os.path.exists(p):
                entry[scen] = json.load(open(p))
                all_ok &= entry[scen]["ok"]
        if "error" in entry:
            all_ok = False
        if "skipped" not in entry and not os.path.isdir(bdir):
            entry["skipped"] = "not requested"
        base, auth = entry.get("baseline_healthz"), entry.get("auth_read")
        if base and auth and base["rps"] and auth["rps"] is not None:
            entry["auth_read_vs_baseline"] = round(auth["rps"] / base["rps"], 3)
        report[backend] = entry
    report["targets"] = targets
    sq = report["sqlite"].get("auth_read")
    measured = bool(sq and sq["ok"])
    report["met"] = {
        "auth_read_rps_sqlite": (sq["rps"] >= targets["auth_read_rps_sqlite"]) if measured else None,
        "auth_read_p99_ms_sqlite": (sq["p99_ms"] <= targets["auth_read_p99_ms_sqlite"]) if measured else None,
    }
    report["all_ok"] = all_ok
    print(json.dumps(report, indent=2))


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def cmd_all_ok(args):
    sys.exit(0 if json.load(open(args[0])).get("all_ok") else 1)


COMMANDS = {
    "parse-wrk": cmd_parse_wrk, "summary": cmd_summary, "password": cmd_password,
    "hex": cmd_hex, "ports": cmd_ports, "login-body": cmd_login_body,
    "login-lua": cmd_login_lua, "get": cmd_get, "first-tenant": cmd_first_tenant,
    "report": cmd_report, "all-ok": cmd_all_ok,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](sys.argv[2:])
PY
py() { python3 "$WORK/bench.py" "$@"; }

# Debug mode: only parse a saved wrk output.
if [ -n "$PARSE_WRK" ]; then
    [[ $PARSE_WRK == /* ]] || PARSE_WRK=$CALLER_DIR/$PARSE_WRK
    py parse-wrk "$PARSE_WRK"
    exit 0
fi

# ---------------------------------------------------------------------------
# Tools.

# need_apt PKG CMD: install Debian package PKG when CMD is missing (no stdin).

command -v python3 >/dev/null 2>&1 || die "python3 is required"
need_apt wrk wrk
need_apt curl curl
need_apt util-linux taskset
[ "$(nproc --all)" -ge 2 ] || die "needs at least 2 CPU cores (server on core 0, wrk on core 1)"

# Which backends to run (sets PG_URL and BACKENDS), and the release build.
select_backends_and_build

# ---------------------------------------------------------------------------
# One backend, run in a subshell: start the server, measure, clean up.

EMAIL=bench@example.com
PASSWORD=$(py password)


# run_wrk BACKEND_DIR NAME CONNECTIONS PROBE_STATUS WRK_ARGS...
run_wrk() {
    local dir=$1 name=$2 conns=$3 status=$4 rc=0
    shift 4
    log "$(basename "$dir")/$name: wrk -t1 -c$conns -d${DURATION}s"
    taskset -c 1 wrk -t1 -c"$conns" -d"${DURATION}s" --timeout 10s --latency "$@" \
        >"$dir/$name.wrk" 2>&1 || rc=$?
    py parse-wrk "$dir/$name.wrk" --status "$status" --exit "$rc" --connections "$conns" >"$dir/$name.json"
    log "$(basename "$dir")/$name: $(py summary "$dir/$name.json")"
}

# State of the backend being measured (each runs in its own subshell).
BACKEND_NAME=""
BACKEND_DIR=""
SERVER_PID=""
PG_SCHEMA=""


# Stop the server (SIGTERM, then SIGKILL) and drop the PostgreSQL schema.
stop_backend() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -f "$BACKEND_DIR/server.pid"
    if [ -n "$PG_SCHEMA" ]; then
        psql "$PG_URL" -X -q -v ON_ERROR_STOP=1 \
            -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS $PG_SCHEMA CASCADE" >&2 ||
            log "warning: could not drop schema $PG_SCHEMA"
    fi
}

run_backend() {
    local backend=$1
    local dir=$WORK/results/$backend
    BACKEND_NAME=$backend
    BACKEND_DIR=$dir
    mkdir -p "$dir/data"

    trap stop_backend EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    local http_port metrics_port db_env
    read -r http_port metrics_port <<<"$(py ports 2)"
    local base=http://127.0.0.1:$http_port
    if [ "$backend" = sqlite ]; then
        db_env=("OMNIVOX__DATABASE__URL=sqlite://$dir/data/omnivox.db")
    else
        PG_SCHEMA=ovx_bench_$(py hex)
        db_env=("OMNIVOX__DATABASE__URL=$PG_URL" "OMNIVOX__DATABASE__SCHEMA=$PG_SCHEMA")
    fi

    # The server runs from the temp dir so it picks up no local config/data.
    log "$backend: starting server on $base (core 0, 1 worker thread)"
    (
        cd "$dir/data"
        exec taskset -c 0 env TOKIO_WORKER_THREADS=1 \
            OMNIVOX__HTTP__BIND="127.0.0.1:$http_port" \
            OMNIVOX__HTTP__PUBLIC_URL="$base" \
            OMNIVOX__HTTP__SHUTDOWN_GRACE_SECS=2 \
            OMNIVOX__METRICS__BIND="127.0.0.1:$metrics_port" \
            OMNIVOX__SIP__SERVER__BIND=127.0.0.1:0 \
            "${db_env[@]}" \
            OMNIVOX__RATE_LIMIT__ENABLED=false \
            OMNIVOX__LOG__LEVEL=warn \
            OMNIVOX__LOG__FORMAT=json \
            OMNIVOX__BOOTSTRAP__OWNER_EMAIL="$EMAIL" \
            OMNIVOX__BOOTSTRAP__OWNER_PASSWORD="$PASSWORD" \
            OMNIVOX__BOOTSTRAP__TENANT_NAME="Bench Center" \
            "$BIN" serve
    ) </dev/null >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    echo "$SERVER_PID" >"$dir/server.pid"

    # Wait for readiness (60 s).
    local deadline=$((SECONDS + 60))
    until [ "$(http_status GET "$base/readyz")" = 200 ]; do
        kill -0 "$SERVER_PID" 2>/dev/null ||
            fail "server exited during startup; last log lines: $(tail -n 20 "$dir/server.log")"
        [ "$SECONDS" -lt "$deadline" ] ||
            fail "GET /readyz did not return 200 within 60 s; last log lines: $(tail -n 20 "$dir/server.log")"
        sleep 0.2
    done
    log "$backend: ready"

    # Sign in and find the tenant.
    local body token tenant code
    body=$(py login-body "$EMAIL" "$PASSWORD")
    code=$(curl -sS -o "$dir/login.json" -w '%{http_code}' --max-time 30 \
        -H 'Content-Type: application/json' --data "$body" "$base/api/v1/auth/login") || code=000
    [ "$code" = 200 ] || fail "POST /api/v1/auth/login returned HTTP $code: $(head -c 300 "$dir/login.json" 2>/dev/null)"
    token=$(py get "$dir/login.json" access_token) || fail "login response has no access_token"
    code=$(curl -sS -o "$dir/me.json" -w '%{http_code}' --max-time 30 \
        -H "Authorization: Bearer $token" "$base/api/v1/me") || code=000
    [ "$code" = 200 ] || fail "GET /api/v1/me returned HTTP $code: $(head -c 300 "$dir/me.json" 2>/dev/null)"
    tenant=$(py first-tenant "$dir/me.json") || fail "GET /api/v1/me: no memberships[0].tenant_id"
    local auth="Authorization: Bearer $token"
    local tenant_url=$base/api/v1/tenants/$tenant
    local user_id
    user_id=$(py get "$dir/me.json" user.id) || fail "GET /api/v1/me: no user.id"
    local member_url=$tenant_url/members/$user_id

    # Warm-up (output discarded).
    log "$backend: warming up for ${WARMUP_SECS}s"
    taskset -c 1 wrk -t1 -c"$WRK_CONNECTIONS" -d"${WARMUP_SECS}s" -H "$auth" "$tenant_url" >/dev/null 2>&1 || true

    run_wrk "$dir" baseline_healthz "$WRK_CONNECTIONS" "$(http_status GET "$base/healthz")" \
        "$base/healthz"
    run_wrk "$dir" auth_read "$WRK_CONNECTIONS" "$(http_status GET "$tenant_url" -H "$auth")" \
        -H "$auth" "$tenant_url"
    run_wrk "$dir" db_read "$WRK_CONNECTIONS" "$(http_status GET "$member_url" -H "$auth")" \
        -H "$auth" "$member_url"
    py login-lua "$EMAIL" "$PASSWORD" >"$dir/login.lua"
    run_wrk "$dir" login "$WRK_LOGIN_CONNECTIONS" \
        "$(http_status POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' --data "$body")" \
        -s "$dir/login.lua" "$base/api/v1/auth/login"

    # The server logs at warn level, so anything in its log is worth a look
    # (the temp dir, log included, is removed at exit).
    if [ -s "$dir/server.log" ]; then
        log "$backend: server logged warnings/errors; last lines:"
        tail -n 5 "$dir/server.log" >&2
    fi
}

for backend in "${BACKENDS[@]}"; do
    # A subshell per backend, so its EXIT trap stops its server; errexit is
    # re-enabled inside (it would be ignored in an `if`/`||` context).
    set +e
    (
        set -e
        run_backend "$backend"
    )
    rc=$?
    set -e
    [ "$rc" -eq 0 ] || log "$backend: failed (see \"error\" in the JSON)"
done

# ---------------------------------------------------------------------------
# Report.
mkdir -p bench/results
GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
STAMP=$(date -u +%Y-%m-%dT%H:%M:%SZ)
export GIT_REV STAMP TARGET_AUTH_READ_RPS_SQLITE TARGET_AUTH_READ_P99_MS_SQLITE \
    WRK_CONNECTIONS WRK_LOGIN_CONNECTIONS
py report "$WORK/results" "$DURATION" >"$WORK/report.json"
cp "$WORK/report.json" bench/results/http-latest.json
cat "$WORK/report.json"
log "saved bench/results/http-latest.json"
py all-ok "$WORK/report.json"
