#!/usr/bin/env bash
# CSV import benchmark (a measurement, not a test).
#
# Generates a contact CSV (bench/gen_contacts.py, deterministic, ROWS data
# rows), then for each database backend runs the release server (both cores,
# default Tokio runtime: the import reads and normalizes on a blocking thread
# while a worker inserts) and, through the HTTP API:
#   1. signs in, creates the custom fields tier (choice), signup_date (date)
#      and vip (boolean) so every column of the file maps, and a list;
#   2. uploads the file (POST .../lists/<id>/imports, text/csv)   -> upload_s
#   3. starts the import with dedup "file" and the suggested mapping, and
#      polls its progress every 200 ms until it is completed     -> import_s
#      (from the start call to the first poll that sees "completed"), while
#      sampling the server's VmRSS; VmHWM (the peak) is read at the end.
# Also recorded per backend: the server's CPU seconds by thread name, the
# PostgreSQL processes' CPU seconds, and the CPU used by everything else on
# the machine meanwhile ("other_load"; a "noise_warning" above 10%).
# The parse + normalize + validate figure comes from
# `cargo bench -p omnivox-contacts --bench normalize` (one thread, no IO),
# run in the same invocation as the baseline. One JSON object goes to stdout
# (also saved to bench/results/import-latest.json); progress goes to stderr.
#
#   bash bench/import.sh [--rows N] [--backend sqlite|postgres|all]
#                        [--skip-build] [--skip-baseline] [--timeout SECS]
#
# PostgreSQL is measured when OMNIVOX_BENCH_PG (or else OMNIVOX_TEST_PG) holds
# a postgres:// URL; the server gets a throwaway schema, dropped afterwards.
#
# Exit status: 0 when every measured backend imported the whole file cleanly
# (status completed, every row counted), 1 otherwise (the JSON is still
# printed). Missing a target does not fail the run; see "met" in the JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# OMNIVOX_BENCH_BIN: measure another build of the server (implies nothing
# about building; combine with --skip-build).
BIN=${OMNIVOX_BENCH_BIN:-$ROOT/target/release/omnivox}

# Targets.
TARGET_PARSE_ROWS_PER_S=100000
TARGET_SQLITE_END_TO_END_ROWS_PER_S=50000
TARGET_PEAK_RSS_MB=200

# Progress poll / RSS sample interval, in seconds.
POLL_INTERVAL=0.2

ROWS=1000000
BACKEND=all
SKIP_BUILD=0
SKIP_BASELINE=0
TIMEOUT=""

# Shared helpers: log, die, need_apt, http_status, fail, cleanup_all.
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

usage() {
    cat >&2 <<'EOF'
usage: bench/import.sh [--rows N] [--backend sqlite|postgres|all] [--skip-build]
                       [--skip-baseline] [--timeout SECS]

  --rows N          data rows in the generated CSV (default 1000000)
  --backend NAME    sqlite, postgres or all (default: all that are available;
                    postgres needs OMNIVOX_BENCH_PG or OMNIVOX_TEST_PG)
  --skip-build      use the existing target/release/omnivox
  --skip-baseline   do not run `cargo bench -p omnivox-contacts --bench normalize`
  --timeout SECS    give up on an import after SECS (default 120 + rows/1000)
EOF
}

while [ $# -gt 0 ]; do
    case $1 in
    --rows) [ $# -ge 2 ] || die "--rows needs a value"; ROWS=$2; shift 2 ;;
    --rows=*) ROWS=${1#*=}; shift ;;
    --backend) [ $# -ge 2 ] || die "--backend needs a value"; BACKEND=$2; shift 2 ;;
    --backend=*) BACKEND=${1#*=}; shift ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --skip-baseline) SKIP_BASELINE=1; shift ;;
    --timeout) [ $# -ge 2 ] || die "--timeout needs a value"; TIMEOUT=$2; shift 2 ;;
    --timeout=*) TIMEOUT=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
    esac
done
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || die "--rows must be a positive whole number, got '$ROWS'"
case $BACKEND in sqlite | postgres | all) ;; *) die "--backend must be sqlite, postgres or all, got '$BACKEND'" ;; esac
[ -n "$TIMEOUT" ] || TIMEOUT=$((120 + ROWS / 1000))
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "--timeout must be a whole number of seconds, got '$TIMEOUT'"

# Scratch space for the whole run (the CSV, databases, uploads); per-backend
# results under $WORK/results.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/omnivox-import-bench.XXXXXX")
mkdir -p "$WORK/results"

trap cleanup_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Python helper (stdlib only): JSON handling, the timed import with its
# progress poll and RSS sampling, and the report.
cat >"$WORK/bench.py" <<'PY'
import json, os, secrets, sys, time, urllib.error, urllib.request
from datetime import datetime

CLK_TCK = os.sysconf("SC_CLK_TCK")
EXPECTED_MAPPING = ["first_name", "last_name", "phone:other", "phone:mobile", "email",
                    "postal_code", "custom:signup_date", "custom:tier", "custom:vip"]


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


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


def cmd_get(args):
    """Print a string field (a dotted path) of the JSON object in a file."""
    v = json.load(open(args[0]))
    for part in args[1].split("."):
        v = v.get(part) if isinstance(v, dict) else None
    if not isinstance(v, str) or not v:
        sys.exit(f"no string field {args[1]!r}")
    print(v)


def cmd_first_tenant(args):
    d = json.load(open(args[0]))
    ms = d.get("memberships") if isinstance(d, dict) else None
    if not ms or not isinstance(ms[0], dict) or not ms[0].get("tenant_id"):
        sys.exit(f"no memberships[0].tenant_id in {json.dumps(d)[:300]}")
    print(ms[0]["tenant_id"])


def cmd_custom_fields(_args):
    """The custom field definitions, one JSON body per line."""
    for f in (
        {"key": "tier", "label": "Tier", "kind": "choice", "choices": ["Gold", "Silver", "Bronze"]},
        {"key": "signup_date", "label": "Signup Date", "kind": "date"},
        {"key": "vip", "label": "VIP", "kind": "boolean"},
    ):
        print(json.dumps(f))


def cmd_check_upload(args):
    """Check an upload response; print the import id. Problems go to stderr."""
    d = json.load(open(args[0]))
    imp = d.get("import") if isinstance(d, dict) else None
    if not isinstance(imp, dict) or not imp.get("id"):
        sys.exit(f"no import.id in {json.dumps(d)[:300]}")
    if imp.get("status") != "uploaded":
        sys.exit(f"import status is {imp.get('status')!r}, expected 'uploaded'")
    mapping = imp.get("suggested_mapping")
    if mapping != EXPECTED_MAPPING:
        sys.exit(f"suggested mapping {mapping} for columns {imp.get('columns')}; "
                 f"expected {EXPECTED_MAPPING}")
    print(imp["id"])


def rss_kb(pid, field="VmRSS"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_s(pid):
    """utime + stime of a process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def thread_cpu_s(pid):
    """{thread name: utime + stime seconds} summed over a process's threads."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                s = f.read()
        except OSError:
            continue
        name = s[s.find("(") + 1:s.rfind(")")]
        fields = s.rsplit(")", 1)[1].split()
        out[(tid, name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def by_thread_name(before, after):
    """CPU seconds used between two thread_cpu_s() snapshots, by thread name
    (threads created in between count from zero)."""
    out = {}
    for key, t in after.items():
        d = t - before.get(key, 0.0)
        if d > 0:
            out[key[1]] = round(out.get(key[1], 0.0) + d, 2)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def machine_busy_s():
    """CPU seconds spent busy by the whole machine (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / CLK_TCK


def postgres_cpu_s():
    """CPU seconds of all live `postgres` processes on this machine (only
    meaningful as a difference; a local server is assumed)."""
    total = 0.0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
        except OSError:
            continue
        if s[s.find("(") + 1:s.rfind(")")] == "postgres":
            total += cpu_s(p) or 0.0
    return total


def request(method, url, token, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None


def parse_ts(s):
    if not s:
        return None
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def downsample(samples, n=30):
    if len(samples) <= n:
        return samples
    step = (len(samples) - 1) / (n - 1)
    return [samples[round(i * step)] for i in range(n)]


def cmd_run_import(args):
    """Start the import, poll it to the end while sampling the server's RSS
    and CPU; write the measurements as JSON to OUT.
    Args: BASE TENANT IMPORT_ID SERVER_PID TIMEOUT_S INTERVAL_S OUT (token in
    $BENCH_TOKEN)."""
    base, tenant, import_id, pid, timeout, interval, out = args
    timeout, interval = float(timeout), float(interval)
    token = os.environ["BENCH_TOKEN"]
    url = f"{base}/api/v1/tenants/{tenant}/imports/{import_id}"
    res = {"ok": False}
    problems = []

    rss_start = rss_kb(pid)
    cpu0, pg0, thr0, busy0 = cpu_s(pid), postgres_cpu_s(), thread_cpu_s(pid), machine_busy_s()
    self0 = os.times()
    wall0 = time.time()
    t0 = time.monotonic()
    code, body = request("POST", url + "/start", token, {"dedup": "file"})
    res["start_status"] = code
    if code != 202:
        problems.append(f"POST .../start returned HTTP {code}: {json.dumps(body)[:300]}")
        res["problems"] = problems
        json.dump(res, open(out, "w"))
        return

    samples = []  # [seconds since start, rss MB, rows_read]
    last_log, job, t_done = t0, None, None
    next_tick = t0 + interval
    while True:
        time.sleep(max(0.0, next_tick - time.monotonic()))
        next_tick += interval
        code, job = request("GET", url, token)
        now = time.monotonic()
        rss = rss_kb(pid)
        if rss is None:
            problems.append("the server process is gone")
            break
        if code != 200 or not isinstance(job, dict):
            problems.append(f"GET import returned HTTP {code}")
            break
        samples.append([round(now - t0, 2), round(rss / 1024, 1), job.get("rows_read", 0)])
        if job.get("status") in ("completed", "failed", "cancelled"):
            t_done = now
            break
        if now - last_log >= 5:
            last_log = now
            log(f"  {job.get('status')}: {job.get('rows_read', 0)} rows read after "
                f"{now - t0:.1f} s, RSS {rss / 1024:.0f} MB")
        if now - t0 > timeout:
            problems.append(f"not finished after {timeout:.0f} s (status {job.get('status')})")
            break

    cpu1, pg1, thr1, busy1 = cpu_s(pid), postgres_cpu_s(), thread_cpu_s(pid), machine_busy_s()
    self1 = os.times()
    hwm = rss_kb(pid, "VmHWM")
    elapsed = (t_done or time.monotonic()) - t0
    job = job if isinstance(job, dict) else {}
    started, finished = parse_ts(job.get("started_at")), parse_ts(job.get("finished_at"))
    res.update({
        "status": job.get("status"),
        "error": job.get("error"),
        "import_s": round(elapsed, 3),
        "server_import_s": round(finished - started, 3) if started and finished else None,
        "queue_delay_s": round(started - wall0, 3) if started else None,
        "rows_read": job.get("rows_read"),
        "accepted": job.get("rows_accepted"),
        "rejected": job.get("rows_rejected"),
        "duplicate": job.get("rows_duplicate"),
        "peak_rss_mb": round(hwm / 1024, 1) if hwm else None,
        "rss_samples_max_mb": max((s[1] for s in samples), default=None),
        "rss_at_start_mb": round(rss_start / 1024, 1) if rss_start else None,
        "rss_at_end_mb": samples[-1][1] if samples else None,
        "rss_samples": len(samples),
        "server_cpu_s": round(cpu1 - cpu0, 2) if cpu0 is not None and cpu1 is not None else None,
        "postgres_cpu_s": round(pg1 - pg0, 2),
        "server_cpu_by_thread_s": by_thread_name(thr0, thr1),
        # Everything else on the machine while the import ran (other jobs
        # here make the figures noisy); this poller is excluded.
        "other_cpu_s": round(max(0.0, (busy1 - busy0) - (cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else 0)
                                 - (pg1 - pg0) - ((self1.user + self1.system) - (self0.user + self0.system))), 2),
        "timeline": downsample(samples),
    })
    if t_done is not None and job.get("status") != "completed":
        problems.append(f"import ended {job.get('status')}: {job.get('error')}")
    res["problems"] = problems
    res["ok"] = not problems
    json.dump(res, open(out, "w"))


def cmd_error_codes(args):
    """Count an import's error report (CSV) by severity:code."""
    import csv
    counts, samples = {}, {}
    with open(args[0], encoding="utf-8", newline="") as f:
        rows = csv.reader(f)
        header = next(rows, [])
        try:
            sev, code, value = (header.index(h) for h in ("severity", "code", "value"))
        except ValueError:
            sys.exit(f"unexpected error report header {header}")
        for r in rows:
            if len(r) > max(sev, code, value):
                k = f"{r[sev]}:{r[code]}"
                counts[k] = counts.get(k, 0) + 1
                if len(samples.setdefault(k, [])) < 4:
                    samples[k].append(r[value])
    print(json.dumps({k: {"rows": n, "examples": samples[k]}
                      for k, n in sorted(counts.items(), key=lambda kv: -kv[1])}))


def cmd_backend_json(args):
    """Assemble one backend's entry from its result files."""
    bdir, rows, file_bytes = args[0], int(args[1]), int(args[2])
    entry = {"rows": rows, "file_bytes": file_bytes}
    up_path = os.path.join(bdir, "upload.time")
    if os.path.exists(up_path):
        entry["upload_s"] = round(float(open(up_path).read().split()[0]), 3)
    imp_path = os.path.join(bdir, "import.json")
    imp = json.load(open(imp_path)) if os.path.exists(imp_path) else {}
    problems = list(imp.get("problems", []))
    for k in ("import_s", "status"):
        if k in imp:
            entry[k] = imp[k]
    if imp.get("import_s"):
        entry["rows_per_s_end_to_end"] = round(rows / imp["import_s"])
        if entry.get("upload_s") is not None:
            entry["rows_per_s_incl_upload"] = round(rows / (imp["import_s"] + entry["upload_s"]))
    for k in ("accepted", "rejected", "duplicate", "rows_read", "peak_rss_mb",
              "rss_samples_max_mb", "rss_at_start_mb", "rss_at_end_mb", "rss_samples",
              "server_import_s", "queue_delay_s", "server_cpu_s", "server_cpu_by_thread_s",
              "postgres_cpu_s", "other_cpu_s"):
        if k in imp:
            entry[k] = imp[k]
    if imp.get("error"):
        entry["import_error"] = imp["error"]
    if imp.get("import_s") and imp.get("server_cpu_s") is not None:
        entry["server_cores_busy"] = round(imp["server_cpu_s"] / imp["import_s"], 2)
    if imp.get("import_s") and imp.get("other_cpu_s") is not None:
        # Share of the machine's cores busy with other work during the import.
        other = imp["other_cpu_s"] / (imp["import_s"] * (os.cpu_count() or 1))
        entry["other_load"] = round(other, 3)
        if other > 0.1:
            entry["noise_warning"] = (f"other processes used {other:.0%} of the machine "
                                      "during the import; the figures are not clean")
    codes_path = os.path.join(bdir, "error-codes.json")
    if os.path.exists(codes_path):
        entry["problem_codes"] = json.load(open(codes_path))
    if imp:
        counted = sum(imp.get(k) or 0 for k in ("accepted", "rejected", "duplicate"))
        if imp.get("status") == "completed":
            if imp.get("rows_read") != rows:
                problems.append(f"rows_read {imp.get('rows_read')} != {rows} rows in the file")
            if counted != imp.get("rows_read"):
                problems.append(f"accepted + rejected + duplicate = {counted} != rows_read")
    for name in ("skipped", "error"):
        p = os.path.join(bdir, name)
        if os.path.exists(p):
            entry[name] = open(p).read().strip()
    entry["ok"] = bool(imp) and imp.get("ok", False) and not problems and "error" not in entry
    if problems:
        entry["problems"] = problems
    if "timeline" in imp:
        entry["timeline_s_rssmb_rowsread"] = imp["timeline"]
    print(json.dumps(entry))


def cmd_report(args):
    results_dir, rows = args[0], int(args[1])
    num = lambda k: int(os.environ[k])
    targets = {
        "parse_rows_per_s": num("TARGET_PARSE_ROWS_PER_S"),
        "sqlite_end_to_end_rows_per_s": num("TARGET_SQLITE_END_TO_END_ROWS_PER_S"),
        "peak_rss_mb": num("TARGET_PEAK_RSS_MB"),
    }
    report = {
        "bench": "import",
        "rows": rows,
        "cores": os.cpu_count(),
        "server_pinned": False,
        "dedup": "file",
        "cpu": cpu_model(),
        "git_rev": os.environ.get("GIT_REV", "unknown"),
        "timestamp": os.environ.get("STAMP", ""),
    }
    all_ok = True
    for backend in ("sqlite", "postgres"):
        bdir = os.path.join(results_dir, backend)
        p = os.path.join(bdir, "entry.json")
        if os.path.exists(p):
            entry = json.load(open(p))
            all_ok &= entry.get("ok", False)
        elif os.path.exists(os.path.join(bdir, "skipped")):
            entry = {"skipped": open(os.path.join(bdir, "skipped")).read().strip()}
        else:
            entry = {"skipped": "not requested"}
        report[backend] = entry
    base_path = os.path.join(results_dir, "baseline.json")
    if os.path.exists(base_path):
        report["baseline"] = json.load(open(base_path))
    else:
        err = os.path.join(results_dir, "baseline.error")
        report["baseline"] = {"error": open(err).read().strip()} if os.path.exists(err) else None
        if os.path.exists(err):
            all_ok = False
    report["targets"] = targets

    base = report["baseline"] or {}
    parse = (base.get("full_utf8") or {}).get("rows_per_s")
    sq = report["sqlite"]
    sq_rate = sq.get("rows_per_s_end_to_end") if sq.get("ok") else None
    peaks = {b: report[b].get("peak_rss_mb") for b in ("sqlite", "postgres")
             if report[b].get("ok") and report[b].get("peak_rss_mb") is not None}
    report["met"] = {
        "parse_rows_per_s": None if parse is None else parse >= targets["parse_rows_per_s"],
        "sqlite_end_to_end_rows_per_s":
            None if sq_rate is None else sq_rate >= targets["sqlite_end_to_end_rows_per_s"],
        "peak_rss_mb":
            None if not peaks else all(v < targets["peak_rss_mb"] for v in peaks.values()),
    }
    report["measured"] = {
        "parse_rows_per_s": parse,
        "sqlite_end_to_end_rows_per_s": sq_rate,
        "peak_rss_mb": peaks,
    }
    if parse and sq_rate:
        report["sqlite_end_to_end_vs_parse"] = round(sq_rate / parse, 3)
    pg = report["postgres"]
    if parse and pg.get("ok") and pg.get("rows_per_s_end_to_end"):
        report["postgres_end_to_end_vs_parse"] = round(pg["rows_per_s_end_to_end"] / parse, 3)
    noisy = [b for b in ("sqlite", "postgres") if report[b].get("noise_warning")]
    if noisy:
        report["noise_warning"] = f"other processes were busy during: {', '.join(noisy)}"
    report["all_ok"] = all_ok
    print(json.dumps(report, indent=2))


def cmd_summary(args):
    d = json.load(open(args[0]))
    if not d.get("import_s"):
        print("NOT OK: " + "; ".join(d.get("problems", [d.get("error", "no result")])))
        return
    tail = "ok" if d.get("ok") else "NOT OK: " + "; ".join(d.get("problems", []))
    print(f"{d['rows']} rows in {d['import_s']:.2f} s = {d['rows_per_s_end_to_end']} rows/s "
          f"(upload {d.get('upload_s')} s); accepted {d.get('accepted')}, rejected "
          f"{d.get('rejected')}, duplicate {d.get('duplicate')}; peak RSS "
          f"{d.get('peak_rss_mb')} MB; server CPU {d.get('server_cpu_s')} s, postgres CPU "
          f"{d.get('postgres_cpu_s')} s; {tail}")
    if d.get("noise_warning"):
        print("  warning: " + d["noise_warning"])


def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def cmd_check_baseline(args):
    """Keep the last JSON object line of `cargo bench` output."""
    found = None
    for line in open(args[0], encoding="utf-8", errors="replace"):
        line = line.strip()
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except ValueError:
                pass
    if not isinstance(found, dict) or "full_utf8" not in found:
        sys.exit("no JSON with full_utf8 in the cargo bench output")
    print(json.dumps(found))


def cmd_all_ok(args):
    sys.exit(0 if json.load(open(args[0])).get("all_ok") else 1)


COMMANDS = {
    "password": cmd_password, "hex": cmd_hex, "ports": cmd_ports,
    "login-body": cmd_login_body, "get": cmd_get, "first-tenant": cmd_first_tenant,
    "custom-fields": cmd_custom_fields, "check-upload": cmd_check_upload,
    "run-import": cmd_run_import, "error-codes": cmd_error_codes,
    "backend-json": cmd_backend_json, "report": cmd_report, "summary": cmd_summary,
    "check-baseline": cmd_check_baseline, "all-ok": cmd_all_ok,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](sys.argv[2:])
PY
py() { python3 "$WORK/bench.py" "$@"; }

# ---------------------------------------------------------------------------
# Tools.

# need_apt PKG CMD: install Debian package PKG when CMD is missing (no stdin).

command -v python3 >/dev/null 2>&1 || die "python3 is required"
need_apt curl curl
[ -r /proc/self/status ] || die "needs /proc (Linux) to read the server's RSS"

# Which backends to run (sets PG_URL and BACKENDS), and the release build.
select_backends_and_build

# ---------------------------------------------------------------------------
# Baseline: parse + normalize + validate on one thread, no server, no IO.
# Run before any server starts so nothing competes for the cores.
if [ "$SKIP_BASELINE" -eq 0 ]; then
    log "baseline: cargo bench -p omnivox-contacts --bench normalize -- $ROWS"
    if cargo bench --locked -p omnivox-contacts --bench normalize -- "$ROWS" \
        >"$WORK/baseline.out" 2>"$WORK/baseline.err"; then
        if py check-baseline "$WORK/baseline.out" >"$WORK/results/baseline.json" 2>"$WORK/baseline.check"; then
            log "baseline: full normalize $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["full_utf8"]["rows_per_s"])' "$WORK/results/baseline.json") rows/s (one thread)"
        else
            rm -f "$WORK/results/baseline.json"
            cat "$WORK/baseline.check" >"$WORK/results/baseline.error"
            log "baseline: $(cat "$WORK/baseline.check")"
        fi
    else
        echo "cargo bench failed: $(tail -n 5 "$WORK/baseline.err")" >"$WORK/results/baseline.error"
        log "baseline: cargo bench failed; last lines:"
        tail -n 5 "$WORK/baseline.err" >&2
    fi
else
    log "baseline skipped (--skip-baseline)"
fi

# ---------------------------------------------------------------------------
# The CSV, shared by the backends.
CSV=$WORK/contacts.csv
log "generating $ROWS rows into $CSV"
gen_start=$SECONDS
python3 bench/gen_contacts.py "$ROWS" "$CSV"
FILE_BYTES=$(stat -c %s "$CSV")
log "generated $FILE_BYTES bytes in $((SECONDS - gen_start)) s"

# ---------------------------------------------------------------------------
# One backend, run in a subshell: start the server, measure, clean up.

EMAIL=bench@example.com
PASSWORD=$(py password)


# State of the backend being measured (each runs in its own subshell).
BACKEND_NAME=""
BACKEND_DIR=""
SERVER_PID=""
PG_SCHEMA=""
BASE=""
TOKEN=""


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
    # The database and the stored upload can be large; free them now.
    rm -rf "$BACKEND_DIR/data"
}

# api METHOD PATH OUT [curl args...]: an authenticated JSON request; prints
# the HTTP status (000 when curl failed).
api() {
    local method=$1 path=$2 out=$3
    shift 3
    curl -sS -o "$out" -w '%{http_code}' --max-time 30 -X "$method" \
        -H "Authorization: Bearer $TOKEN" "$@" "$BASE$path" || echo 000
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
    BASE=http://127.0.0.1:$http_port
    if [ "$backend" = sqlite ]; then
        db_env=("OMNIVOX__DATABASE__URL=sqlite://$dir/data/omnivox.db")
    else
        PG_SCHEMA=ovx_bench_$(py hex)
        db_env=("OMNIVOX__DATABASE__URL=$PG_URL" "OMNIVOX__DATABASE__SCHEMA=$PG_SCHEMA")
    fi

    # The server runs from the temp dir so it picks up no local config/data.
    # Not pinned: the import uses a reading thread and the runtime's workers.
    log "$backend: starting server on $BASE (all $(nproc) cores, default runtime)"
    (
        cd "$dir/data"
        exec env \
            OMNIVOX__HTTP__BIND="127.0.0.1:$http_port" \
            OMNIVOX__HTTP__PUBLIC_URL="$BASE" \
            OMNIVOX__HTTP__SHUTDOWN_GRACE_SECS=2 \
            OMNIVOX__METRICS__BIND="127.0.0.1:$metrics_port" \
            OMNIVOX__SIP__SERVER__BIND=127.0.0.1:0 \
            "${db_env[@]}" \
            OMNIVOX__STORAGE__DATA_DIR="$dir/data/files" \
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
    until [ "$(http_status GET "$BASE/readyz")" = 200 ]; do
        kill -0 "$SERVER_PID" 2>/dev/null ||
            fail "server exited during startup; last log lines: $(tail -n 20 "$dir/server.log")"
        [ "$SECONDS" -lt "$deadline" ] ||
            fail "GET /readyz did not return 200 within 60 s; last log lines: $(tail -n 20 "$dir/server.log")"
        sleep 0.2
    done
    log "$backend: ready"

    # Sign in and find the tenant.
    local body tenant code
    body=$(py login-body "$EMAIL" "$PASSWORD")
    code=$(curl -sS -o "$dir/login.json" -w '%{http_code}' --max-time 30 \
        -H 'Content-Type: application/json' --data "$body" "$BASE/api/v1/auth/login") || code=000
    [ "$code" = 200 ] || fail "POST /api/v1/auth/login returned HTTP $code: $(head -c 300 "$dir/login.json" 2>/dev/null)"
    TOKEN=$(py get "$dir/login.json" access_token) || fail "login response has no access_token"
    code=$(api GET /api/v1/me "$dir/me.json")
    [ "$code" = 200 ] || fail "GET /api/v1/me returned HTTP $code: $(head -c 300 "$dir/me.json" 2>/dev/null)"
    tenant=$(py first-tenant "$dir/me.json") || fail "GET /api/v1/me: no memberships[0].tenant_id"
    local tpath=/api/v1/tenants/$tenant

    # Custom fields for the Signup Date, Tier and VIP columns, and a list.
    local field list_id
    while IFS= read -r field; do
        code=$(api POST "$tpath/custom-fields" "$dir/field.json" -H 'Content-Type: application/json' --data "$field")
        [ "$code" = 201 ] || fail "POST custom-fields $field returned HTTP $code: $(head -c 300 "$dir/field.json")"
    done < <(py custom-fields)
    code=$(api POST "$tpath/lists" "$dir/list.json" -H 'Content-Type: application/json' \
        --data '{"name":"bench","default_region":"US"}')
    [ "$code" = 201 ] || fail "POST lists returned HTTP $code: $(head -c 300 "$dir/list.json")"
    list_id=$(py get "$dir/list.json" id) || fail "POST lists: no id in the response"

    # Upload (timed by curl: from connecting to the 201 with the inspection).
    log "$backend: uploading $FILE_BYTES bytes"
    local up import_id
    up=$(curl -sS -o "$dir/upload.json" -w '%{http_code} %{time_total}' --max-time 600 \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/csv' -H 'Expect:' \
        --data-binary "@$CSV" "$BASE$tpath/lists/$list_id/imports?file_name=bench.csv") || up="000 0"
    [ "${up%% *}" = 201 ] || fail "upload returned HTTP ${up%% *}: $(head -c 300 "$dir/upload.json" 2>/dev/null)"
    echo "${up#* }" >"$dir/upload.time"
    import_id=$(py check-upload "$dir/upload.json" 2>"$dir/check-upload.err") ||
        fail "upload: $(cat "$dir/check-upload.err")"
    log "$backend: uploaded in ${up#* } s; import $import_id"

    # Start and poll to the end (timed), sampling RSS.
    log "$backend: importing $ROWS rows (poll every ${POLL_INTERVAL}s, timeout ${TIMEOUT}s)"
    BENCH_TOKEN=$TOKEN py run-import "$BASE" "$tenant" "$import_id" "$SERVER_PID" \
        "$TIMEOUT" "$POLL_INTERVAL" "$dir/import.json" ||
        fail "the import driver failed"

    # Not timed: the error report, counted by code (checks the generator's mix).
    code=$(curl -sS -o "$dir/errors.csv" -w '%{http_code}' --max-time 300 \
        -H "Authorization: Bearer $TOKEN" "$BASE$tpath/imports/$import_id/errors.csv") || code=000
    if [ "$code" = 200 ]; then
        py error-codes "$dir/errors.csv" >"$dir/error-codes.json" || rm -f "$dir/error-codes.json"
    else
        log "$backend: warning: GET errors.csv returned HTTP $code"
    fi
    rm -f "$dir/errors.csv"

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
    dir=$WORK/results/$backend
    py backend-json "$dir" "$ROWS" "$FILE_BYTES" >"$dir/entry.json"
    if [ "$rc" -eq 0 ]; then
        log "$backend: $(py summary "$dir/entry.json")"
    else
        log "$backend: failed (see \"error\" in the JSON)"
    fi
done

# ---------------------------------------------------------------------------
# Report.
mkdir -p bench/results
GIT_REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
STAMP=$(date -u +%Y-%m-%dT%H:%M:%SZ)
export GIT_REV STAMP TARGET_PARSE_ROWS_PER_S TARGET_SQLITE_END_TO_END_ROWS_PER_S TARGET_PEAK_RSS_MB
py report "$WORK/results" "$ROWS" >"$WORK/report.json"
cp "$WORK/report.json" bench/results/import-latest.json
cat "$WORK/report.json"
log "saved bench/results/import-latest.json"
py all-ok "$WORK/report.json"
