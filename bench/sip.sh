#!/usr/bin/env bash
# SIP B2BUA benchmark (a measurement, not a test).
#
# sipp (UAC, the "carrier") -> Omnivox -> sipp (UAS, the carrier's far end):
# each call comes in on a trunk (source 127.0.0.1) to a DID whose target is
# an outside number, so Omnivox dials it out through the same trunk to the
# UAS, bridges, and relays the caller's BYE. Scenarios: bench/sipp/uac.xml
# (INVITE with SDP, ACK, BYE after -d ms) and bench/sipp/uas.xml (200 with
# SDP at once, ACK, 200 to the BYE).
#
# The release server runs pinned to core 0 with one Tokio worker (so
# "calls/s on one core" is what it sustains); both sipp processes run on
# core 1. For each database backend (CDRs are written to it in batches;
# every INVITE reads the DID from it):
#   warmup    a few hundred calls; must all complete or the backend fails
#   memory    HOLD_CALLS calls held open at once: (VmRSS with them live -
#             VmRSS before) / calls, per call and per dialog (2 per call),
#             sampled 2 s after the last is up, while the INVITE
#             transactions still linger (32 s, RFC 6026). Then, with every
#             one of them past that, a second batch of HOLD_CALLS calls
#             ("established"): the VmRSS it adds per call, which is what a
#             long call costs where calls come and go (its transactions
#             reuse memory freed by earlier calls' transactions; RSS never
#             shrinks, so one batch alone cannot show it). Live counts are
#             confirmed with GET /api/v1/tenants/{t}/calls
#   steps     RATES calls/s ascending, STEP_SECS each (rate x STEP_SECS
#             short calls; after a step with failed calls or that fell
#             behind its rate, the higher rates are not run):
#             server CPU (utime+stime from /proc/<pid>/stat) / completed
#             calls = CPU microseconds per call (both legs), failed calls,
#             achieved rate, call-setup time (INVITE -> 200 at the UAC, from
#             sipp's response-time repartition, so bucket bounds), RSS
#   settle    TAIL_SECS (34) without traffic after the memory step: the
#             deferred work of the calls that ended (finished transactions
#             are kept 32 s for retransmissions, then cleaned up), per call
#             ("deferred_us_per_call"), so it does not land in the steps
#   tail      TAIL_SECS idle after the steps: their deferred work, added
#             into the overall CPU per call (all steps + tail / all calls)
# The baseline, once per run, is the same steps with the UAC calling the
# UAS directly (no Omnivox): the two sipps' own CPU per call at the same
# rates, for scale. One JSON object goes to stdout and to
# bench/results/sip-<timestamp>.json (and sip-latest.json), the server log
# and sipp's error logs to bench/results/sip-<timestamp>-logs/; progress
# goes to stderr.
#
#   bash bench/sip.sh [--backend sqlite|postgres|all] [--quick] [--skip-build]
#                     [--rates "100 500 1000"] [--step-secs N] [--hold-calls N]
#                     [--skip-baseline]
#
# PostgreSQL is measured when OMNIVOX_BENCH_PG (or else OMNIVOX_TEST_PG) holds
# a postgres:// URL; the server gets a throwaway schema, dropped afterwards.
#
# Exit status: 0 when the warm-up and memory steps completed every call and
# at least one rate step had zero failures on every measured backend, 1
# otherwise (the JSON is still printed). Missing a target does not fail the
# run; see "met" in the JSON.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# OMNIVOX_BENCH_BIN: measure another build of the server (implies nothing
# about building; combine with --skip-build).
BIN=${OMNIVOX_BENCH_BIN:-$ROOT/target/release/omnivox}
SIPP=${SIPP:-sipp}

# Targets (from the B2BUA issue), checked against the SQLite numbers.
TARGET_CPU_US_PER_CALL=100
TARGET_CALLS_PER_S=1000
TARGET_KB_PER_DIALOG=20

RATES="100 250 500 1000 1500 2000"
STEP_SECS=8
HOLD_CALLS=2000
HOLD_RATE=500
WARMUP_CALLS=300
WARMUP_RATE=100
TAIL_SECS=34
SERVER_CPU=0
SIPP_CPU=1

BACKEND=sqlite
SKIP_BUILD=0
SKIP_BASELINE=0
QUICK=0

# Shared helpers: log, die, need_apt, http_status, fail, cleanup_all.
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

usage() {
    cat >&2 <<'EOF'
usage: bench/sip.sh [--backend sqlite|postgres|all] [--quick] [--skip-build]
                    [--rates "R1 R2 ..."] [--step-secs N] [--hold-calls N]
                    [--skip-baseline]

  --backend NAME    sqlite (default), postgres or all (postgres needs
                    OMNIVOX_BENCH_PG or OMNIVOX_TEST_PG)
  --quick           rates "200 1000", 4 s steps, 1000 held calls, no idle
                    settle/tail windows (so no deferred-work figures)
  --rates "..."     calls/s of the steps, ascending (default
                    "100 250 500 1000 1500 2000")
  --step-secs N     length of each step (default 8; calls = rate x N)
  --hold-calls N    calls held open for the memory step (default 2000; as many
                    again for the established figure)
  --skip-build      use the existing target/release/omnivox
  --skip-baseline   no direct sipp -> sipp run
EOF
}

RATES_SET=0
STEP_SET=0
HOLD_SET=0
while [ $# -gt 0 ]; do
    case $1 in
    --backend) [ $# -ge 2 ] || die "--backend needs a value"; BACKEND=$2; shift 2 ;;
    --backend=*) BACKEND=${1#*=}; shift ;;
    --rates) [ $# -ge 2 ] || die "--rates needs a value"; RATES=$2; RATES_SET=1; shift 2 ;;
    --rates=*) RATES=${1#*=}; RATES_SET=1; shift ;;
    --step-secs) [ $# -ge 2 ] || die "--step-secs needs a value"; STEP_SECS=$2; STEP_SET=1; shift 2 ;;
    --step-secs=*) STEP_SECS=${1#*=}; STEP_SET=1; shift ;;
    --hold-calls) [ $# -ge 2 ] || die "--hold-calls needs a value"; HOLD_CALLS=$2; HOLD_SET=1; shift 2 ;;
    --hold-calls=*) HOLD_CALLS=${1#*=}; HOLD_SET=1; shift ;;
    --quick) QUICK=1; shift ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --skip-baseline) SKIP_BASELINE=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown argument: $1" ;;
    esac
done
if [ "$QUICK" -eq 1 ]; then
    [ "$RATES_SET" -eq 1 ] || RATES="200 1000"
    [ "$STEP_SET" -eq 1 ] || STEP_SECS=4
    [ "$HOLD_SET" -eq 1 ] || HOLD_CALLS=1000
    WARMUP_CALLS=100
    TAIL_SECS=0
fi
case $BACKEND in sqlite | postgres | all) ;; *) die "--backend must be sqlite, postgres or all, got '$BACKEND'" ;; esac
[[ $STEP_SECS =~ ^[1-9][0-9]*$ ]] || die "--step-secs must be a whole number of seconds, got '$STEP_SECS'"
[[ $HOLD_CALLS =~ ^[1-9][0-9]*$ ]] || die "--hold-calls must be a positive whole number, got '$HOLD_CALLS'"
# Each call holds four UDP sockets (two RTP/RTCP pairs) and both batches
# are up at once: 2 x 2000 x 4 = 16,000 descriptors, under the 20,000
# open files this machine allows a process.
[ "$HOLD_CALLS" -le 2000 ] || die "--hold-calls must be at most 2000 (open files: four sockets a call, 2 x N calls at once)"
prev=0
for r in $RATES; do
    [[ $r =~ ^[1-9][0-9]*$ ]] || die "--rates: '$r' is not a positive whole number"
    [ "$r" -gt "$prev" ] || die "--rates must be ascending"
    prev=$r
done
[ -n "$RATES" ] || die "--rates is empty"

# Logs worth keeping (server log, sipp error logs) go to $LOG_DIR.
RUN_STAMP=$(date -u +%Y%m%dT%H%M%SZ)
LOG_DIR=$ROOT/bench/results/sip-$RUN_STAMP-logs

# Scratch space for the whole run; per-backend results under $WORK/results.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/omnivox-bench.XXXXXX")
mkdir -p "$WORK/results"

trap cleanup_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Python helper (stdlib only): API setup, the sipp runs and their
# measurements, the report.
cat >"$WORK/bench.py" <<'PY'
import json, math, os, secrets, signal, socket, subprocess, sys, time
import urllib.error, urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
ROOT = os.environ.get("ROOT", ".")
SIPP = os.environ.get("SIPP", "sipp")


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ----- small commands ------------------------------------------------------

def cmd_password(_args):
    while True:
        pw = secrets.token_urlsafe(24)
        if "bench" not in pw.lower():
            print(pw)
            return


def cmd_hex(_args):
    print(secrets.token_hex(5))


def free_port(avoid, pair=False):
    """A port free for UDP and TCP on 127.0.0.1 (and port+2 when pair)."""
    for _ in range(200):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        cands = [port, port + 2] if pair else [port]
        if any(p in avoid or p > 65000 for p in cands):
            continue
        ok = True
        for p in cands:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                t = socket.socket(socket.AF_INET, kind)
                try:
                    t.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                finally:
                    t.close()
        if ok:
            avoid.update(cands)
            return port
    sys.exit("no free port found")


def cmd_ports(args):
    """N plain ports then M media ports (each with port+2 free too)."""
    n, m = int(args[0]), int(args[1])
    avoid = set()
    out = [free_port(avoid) for _ in range(n)] + [free_port(avoid, pair=True) for _ in range(m)]
    print(" ".join(map(str, out)))


def request(method, url, token=None, body=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw or b"null")
        except ValueError:
            return e.code, raw.decode(errors="replace")[:300]
    except OSError as e:
        return 0, str(e)


def cmd_setup(args):
    """Sign in, create the trunks to the UAS and the DID; write
    {token, tenant} to OUT. Args: BASE UAS_PORT DID TARGET N_TRUNKS OUT
    (email/password in $BENCH_EMAIL / $BENCH_PASSWORD)."""
    base, uas_port, did, target, n_trunks, out = args
    st, body = request("POST", f"{base}/api/v1/auth/login",
                       body={"email": os.environ["BENCH_EMAIL"], "password": os.environ["BENCH_PASSWORD"]})
    if st != 200 or not isinstance(body, dict) or not body.get("access_token"):
        sys.exit(f"POST /api/v1/auth/login: HTTP {st}: {str(body)[:300]}")
    token = body["access_token"]
    st, me = request("GET", f"{base}/api/v1/me", token)
    if st != 200:
        sys.exit(f"GET /api/v1/me: HTTP {st}: {str(me)[:300]}")
    tenant = me["memberships"][0]["tenant_id"]
    turl = f"{base}/api/v1/tenants/{tenant}"
    # The API caps one trunk at 1000 calls/s and 10000 channels; higher
    # rates spill over to the next trunk (same carrier, same UAS).
    trunks = []
    for i in range(int(n_trunks)):
        st, t = request("POST", f"{turl}/trunks", token, {
            "name": f"bench-carrier-{i + 1}",
            "host": "127.0.0.1",
            "port": int(uas_port),
            "transport": "udp",
            "max_channels": 10000,
            "max_cps": 1000,
            "priority": 10 + i,
            "allowed_sources": ["127.0.0.1"],
        })
        if st != 201:
            sys.exit(f"POST /trunks: HTTP {st}: {json.dumps(t)[:500]}")
        trunks.append(t["id"])
    st, d = request("POST", f"{turl}/dids", token, {
        "number": did,
        "description": "SIP benchmark",
        "target_kind": "number",
        "target_number": target,
    })
    if st != 201:
        sys.exit(f"POST /dids: HTTP {st}: {json.dumps(d)[:500]}")
    json.dump({"token": token, "tenant": tenant, "trunks": trunks, "did": d}, open(out, "w"))


# ----- process measurements ------------------------------------------------

def proc_cpu_s(pid):
    """utime + stime of a live process (all its threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    fields = s[s.rfind(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_cpu_s(pid):
    """CPU seconds of each live thread of PID: {(tid, name): seconds}."""
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
        fields = s[s.rfind(")") + 2:].split()
        out[(tid, name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


def by_thread_name(before, after):
    """CPU seconds used between two thread_cpu_s() snapshots, by thread
    name (threads created in between count from zero)."""
    out = {}
    for key, t in after.items():
        d = t - before.get(key, 0.0)
        if d > 0:
            out[key[1]] = round(out.get(key[1], 0.0) + d, 3)
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def proc_status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def udp_drops():
    """Datagrams dropped by each 127.0.0.1 UDP socket (full receive
    buffer), by local port, from /proc/net/udp."""
    out = {}
    try:
        lines = open("/proc/net/udp").read().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        f = line.split()
        if len(f) < 13 or not f[1].startswith("0100007F:"):
            continue
        out[int(f[1].split(":")[1], 16)] = int(f[-1])
    return out


def machine_busy_s():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)) / CLK_TCK


def postgres_cpu_s():
    """CPU seconds of all live `postgres` processes (a local server is
    assumed; only meaningful as a difference)."""
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
            total += proc_cpu_s(p) or 0.0
    return total


# ----- sipp ----------------------------------------------------------------

def sipp_common(spec, role):
    port = spec[f"{role}_port"]
    media = spec[f"{role}_media_port"]
    return ["-i", "127.0.0.1", "-bind_local", "-mi", "127.0.0.1", "-ci", "127.0.0.1",
            "-p", str(port), "-mp", str(media), "-nostdin",
            "-trace_stat", "-stf", f"{role}.csv", "-fd", "1",
            "-trace_err", "-error_file", f"{role}-errors.log",
            "-trace_screen", "-screen_file", f"{role}-screen.log"]


def read_stats(path):
    """The last line of a sipp -trace_stat CSV as a dict."""
    try:
        lines = [l for l in open(path, errors="replace").read().splitlines() if l.strip()]
    except OSError:
        return None
    if len(lines) < 2:
        return None
    head = lines[0].split(";")
    return dict(zip(head, lines[-1].split(";")))


def num(d, key, default=0):
    if not d or key not in d:
        return default
    try:
        v = float(d[key])
    except ValueError:
        return default
    return int(v) if v.is_integer() else v


def duration_ms(d, key):
    """A sipp duration field (HH:MM:SS:micros) in milliseconds."""
    try:
        h, m, sec, us = (int(x) for x in d[key].split(":"))
    except (TypeError, KeyError, ValueError):
        return None
    return round((h * 3600 + m * 60 + sec) * 1000 + us / 1000, 3)


def repartition(d, prefix):
    """[(upper bound ms or None for the open bucket, count)]."""
    out = []
    if not d:
        return out
    for k, v in d.items():
        if k.startswith(prefix + "_<"):
            out.append((float(k[len(prefix) + 2:]), int(v or 0)))
        elif k.startswith(prefix + "_>="):
            out.append((None, int(v or 0)))
    out.sort(key=lambda kv: math.inf if kv[0] is None else kv[0])
    return out


def percentile_bound(buckets, q):
    """Upper bound (ms) of the bucket holding the q-quantile; a string
    '>= X' for the open bucket; None without data."""
    total = sum(c for _, c in buckets)
    if not total:
        return None
    need = q * total
    seen = 0
    prev = None
    for bound, c in buckets:
        seen += c
        if seen >= need and c:
            return bound if bound is not None else f">= {prev:g}"
        if bound is not None:
            prev = bound
    return None


def wait_child(proc, deadline, tick=None):
    """Wait for PROC until DEADLINE (monotonic); then SIGTERM / SIGKILL.
    TICK() is called while waiting. Returns (rc, cpu_s, killed)."""
    killed = False
    while True:
        if tick:
            tick()
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() >= deadline:
            killed = True
            proc.send_signal(signal.SIGTERM)
            t_end = time.monotonic() + 3
            while True:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() >= t_end:
                    proc.kill()
                    pid, status, ru = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.05)
            break
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, ru.ru_utime + ru.ru_stime, killed


def sipp_timeout_s(spec):
    return int((spec["calls"] / spec["rate"] + spec["hold_ms"] / 1000.0) * 2 + 20)


def start_uac(spec):
    """Start a UAC placing SPEC's calls (statistics in its dir)."""
    calls = spec["calls"]
    cmd = ["taskset", "-c", spec["sipp_cpus"], SIPP, spec["target"], "-sf", f"{ROOT}/bench/sipp/uac.xml",
           *sipp_common(spec, "uac"), "-s", spec["service"],
           "-r", str(spec["rate"]), "-rp", "1000", "-m", str(calls), "-l", str(calls + 10),
           "-d", str(spec["hold_ms"]), "-timeout", f"{sipp_timeout_s(spec)}s",
           "-max_recv_loops", "10000", "-max_sched_loops", "10000"]
    out = open(os.path.join(spec["dir"], "uac.out"), "w")
    return subprocess.Popen(cmd, cwd=spec["dir"], stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)


def run_sipp_pair(spec):
    """Start the UAS, then the UAC; wait for both. Returns the raw data.
    The UAS answers spec["uas_calls"] calls (default: the UAC's)."""
    d = spec["dir"]
    os.makedirs(d, exist_ok=True)
    timeout_s = sipp_timeout_s(spec)
    uas_calls = spec.get("uas_calls", spec["calls"])
    uas_cmd = ["taskset", "-c", spec["sipp_cpus"], SIPP, "-sf", f"{ROOT}/bench/sipp/uas.xml",
               *sipp_common(spec, "uas"), "-m", str(uas_calls), "-timeout", f"{timeout_s + 10}s"]
    uas_out = open(os.path.join(d, "uas.out"), "w")
    uas = subprocess.Popen(uas_cmd, cwd=d, stdin=subprocess.DEVNULL, stdout=uas_out, stderr=subprocess.STDOUT)
    # Wait for the UAS to bind its port.
    t_end = time.monotonic() + 5
    while time.monotonic() < t_end:
        if uas.poll() is not None:
            break
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.bind(("127.0.0.1", spec["uas_port"]))
        except OSError:
            break
        finally:
            probe.close()
        time.sleep(0.05)
    return uas, start_uac(spec), timeout_s


def step_result(spec, uas_rc, uas_cpu, uas_killed, uac_rc, uac_cpu, uac_killed):
    d = spec["dir"]
    calls = spec["calls"]
    uac = read_stats(os.path.join(d, "uac.csv"))
    uas = read_stats(os.path.join(d, "uas.csv"))
    setup = repartition(uac, "ResponseTimeRepartitionsetup")
    r = {
        "rate": spec["rate"],
        "calls": calls,
        "hold_ms": spec["hold_ms"],
        "achieved_rate": num(uac, "CallRate(C)", None),
        "uac_successful": num(uac, "SuccessfulCall(C)"),
        "uac_failed": num(uac, "FailedCall(C)"),
        "uas_successful": num(uas, "SuccessfulCall(C)"),
        "uas_failed": num(uas, "FailedCall(C)"),
        "retransmissions": num(uac, "Retransmissions(C)") + num(uas, "Retransmissions(C)"),
        "unexpected_messages": num(uac, "FailedUnexpectedMessage(C)") + num(uas, "FailedUnexpectedMessage(C)"),
        "uac_exit": uac_rc,
        "uas_exit": uas_rc,
        "sipp_cpu_s": round(uac_cpu + uas_cpu, 3),
        "setup_ms_mean": duration_ms(uac, "ResponseTimesetup(C)"),
        "setup_ms_p50_bound": percentile_bound(setup, 0.50),
        "setup_ms_p99_bound": percentile_bound(setup, 0.99),
    }
    completed = min(r["uac_successful"], r["uas_successful"])
    r["completed"] = completed
    r["failed"] = calls - completed
    r["sipp_cpu_us_per_call"] = round(r["sipp_cpu_s"] * 1e6 / completed, 1) if completed else None
    problems = []
    if uac is None:
        problems.append("no UAC statistics (sipp did not run?)")
    if uac_killed:
        problems.append("the UAC did not finish in time")
    if uas_killed:
        problems.append("the UAS did not see every call end (stopped)")
    if r["failed"]:
        problems.append(f"{r['failed']} of {calls} calls did not complete")
    if uac_rc not in (0, None) and not uac_killed:
        problems.append(f"UAC exit status {uac_rc}")
    r["ok"] = not problems
    r["sustained"] = bool(r["ok"] and r["achieved_rate"] and r["achieved_rate"] >= 0.95 * spec["rate"])
    if problems:
        r["problems"] = problems
        errs = []
        for role in ("uac", "uas"):
            p = os.path.join(d, f"{role}-errors.log")
            if os.path.exists(p):
                lines = [l for l in open(p, errors="replace").read().splitlines() if l.strip()]
                errs += [f"{role}: {l[:200]}" for l in lines[:6]]
        if errs:
            r["error_sample"] = errs
    return r


def live_calls(spec):
    """Live calls by the API (an int), else a description."""
    st, body = request("GET", spec["calls_url"], os.environ.get("BENCH_TOKEN"), timeout=60)
    return len(body.get("items", [])) if st == 200 and isinstance(body, dict) else f"HTTP {st}"


def established_batch(spec, t0, pid):
    """The memory step's second batch: once every call of the first is
    past the 32 s its INVITE transactions linger (RFC 6026), as many calls
    again. The RSS they add is what established calls cost where calls come
    and go: their transient memory (INVITE transactions, set-up) reuses what
    the first batch's freed, as much as they need since the batches are
    equal, and their established state is new. RSS never shrinks, so one
    batch alone cannot show it."""
    time.sleep(max(0.0, t0 + spec["second_batch_after_s"] - time.monotonic()))
    b = dict(spec, dir=os.path.join(spec["dir"], "established"), uac_port=spec["uac2_port"],
             uac_media_port=spec["uac2_media_port"],
             hold_ms=spec["hold_ms"] - int(spec["second_batch_after_s"] * 1000))
    os.makedirs(b["dir"], exist_ok=True)
    rss0, live0 = proc_status_kb(pid, "VmRSS"), live_calls(spec)
    uac, t1 = start_uac(b), time.monotonic()
    time.sleep(spec["sample_after_s"])
    rss1, live1 = proc_status_kb(pid, "VmRSS"), live_calls(spec)
    rc, _, killed = wait_child(uac, time.monotonic() + sipp_timeout_s(b) + 5)
    stats = read_stats(os.path.join(b["dir"], "uac.csv"))
    r = {"calls": b["calls"], "started_at_s": round(t1 - t0, 1), "hold_ms": b["hold_ms"],
         "uac_successful": num(stats, "SuccessfulCall(C)"), "uac_failed": num(stats, "FailedCall(C)"),
         "uac_exit": rc, "live_before": live0, "live_at_sample": live1,
         "rss_before_mb": round(rss0 / 1024, 1), "rss_at_sample_mb": round(rss1 / 1024, 1)}
    added = live1 - live0 if isinstance(live1, int) and isinstance(live0, int) else None
    problems = []
    if killed or r["uac_successful"] != b["calls"]:
        problems.append(f"{b['calls'] - r['uac_successful']} of the second batch's calls did not complete")
    if added != b["calls"]:
        problems.append(f"the second batch added {added} live calls, not {b['calls']}")
    if problems:
        r["problems"] = problems
    elif rss0 and rss1:
        r["kb_per_call"] = round((rss1 - rss0) / added, 2)
        r["kb_per_dialog"] = round(r["kb_per_call"] / 2, 2)
    return r


def cmd_step(args):
    """One sipp run, measured. Args: SPEC_JSON OUT."""
    spec = json.loads(args[0])
    out = args[1]
    pid = spec.get("server_pid")
    busy0, t0 = machine_busy_s(), time.monotonic()
    cpu0 = proc_cpu_s(pid) if pid else None
    threads0 = thread_cpu_s(pid) if pid else None
    pg0 = postgres_cpu_s() if spec.get("postgres") else None
    rss0 = proc_status_kb(pid, "VmRSS") if pid else None
    drops0 = udp_drops()
    uas, uac, timeout_s = run_sipp_pair(spec)
    sample = None
    if spec.get("sample_after_s") is not None:
        # The memory step: every call is up (and held) from
        # calls/rate seconds on; sample then.
        time.sleep(spec["sample_after_s"])
        rss = proc_status_kb(pid, "VmRSS")
        uac_now = read_stats(os.path.join(spec["dir"], "uac.csv"))
        live = live_calls(spec) if spec.get("calls_url") else None
        sample = {"rss_kb": rss, "live_calls_api": live,
                  "uac_open_calls": num(uac_now, "CurrentCall", None),
                  "at_s": round(time.monotonic() - t0, 1)}
    established = None
    if spec.get("second_batch_after_s") is not None:
        established = established_batch(spec, t0, pid)
    # Socket drop counters, sampled while the sipp sockets exist.
    ports = {"server": spec.get("server_sip_port"), "uac": spec["uac_port"], "uas": spec["uas_port"]}
    seen = {}

    def sample_drops():
        now = udp_drops()
        for k, p in ports.items():
            if p and p in now:
                seen[k] = max(seen.get(k, 0), now[p])

    deadline = time.monotonic() + timeout_s + 5
    uac_rc, uac_cpu, uac_killed = wait_child(uac, deadline, sample_drops)
    # The UAS has the last message; give it a moment after the UAC.
    uas_rc, uas_cpu, uas_killed = wait_child(uas, time.monotonic() + 5, sample_drops)
    sample_drops()
    time.sleep(spec.get("settle_s", 0.5))
    wall = time.monotonic() - t0
    r = step_result(spec, uas_rc, uas_cpu, uas_killed, uac_rc, uac_cpu, uac_killed)
    r["wall_s"] = round(wall, 2)
    # Datagrams the kernel dropped because a socket's receive buffer was
    # full (the UAC/UAS sockets are new each run, so they count from 0).
    r["udp_drops"] = {k: seen.get(k, 0) - (drops0.get(p, 0) if k == "server" else 0)
                      for k, p in ports.items() if p}
    if pid:
        cpu1 = proc_cpu_s(pid)
        if cpu0 is None or cpu1 is None:
            r["ok"] = False
            r.setdefault("problems", []).append("the server exited")
        else:
            r["server_cpu_s"] = round(cpu1 - cpu0, 3)
            if r["completed"]:
                r["cpu_us_per_call"] = round((cpu1 - cpu0) * 1e6 / r["completed"], 1)
                if r["sipp_cpu_us_per_call"]:
                    r["server_vs_sipp_cpu"] = round(r["cpu_us_per_call"] / r["sipp_cpu_us_per_call"], 2)
            r["server_core_busy"] = round((cpu1 - cpu0) / wall, 3)
            r["server_cpu_by_thread_s"] = by_thread_name(threads0, thread_cpu_s(pid))
        r["rss_before_mb"] = round(rss0 / 1024, 1) if rss0 else None
        rss1 = proc_status_kb(pid, "VmRSS")
        r["rss_after_mb"] = round(rss1 / 1024, 1) if rss1 else None
    if pg0 is not None:
        r["postgres_cpu_s"] = round(postgres_cpu_s() - pg0, 3)
        if r["completed"]:
            r["postgres_cpu_us_per_call"] = round(r["postgres_cpu_s"] * 1e6 / r["completed"], 1)
    other = machine_busy_s() - busy0 - (r.get("server_cpu_s") or 0) - r["sipp_cpu_s"] - (r.get("postgres_cpu_s") or 0)
    r["other_load"] = round(max(other, 0) / (wall * (os.cpu_count() or 1)), 3)
    if r["other_load"] > 0.1:
        r["noise_warning"] = f"other processes used {r['other_load']:.0%} of the machine during this step"
    if sample is not None:
        r["sample"] = sample
        if sample["rss_kb"] and rss0:
            live = sample["live_calls_api"] if isinstance(sample["live_calls_api"], int) else spec["calls"]
            r["held_calls"] = live
            if live:
                per_call = (sample["rss_kb"] - rss0) / live
                r["rss_with_calls_mb"] = round(sample["rss_kb"] / 1024, 1)
                r["kb_per_call"] = round(per_call, 2)
                r["kb_per_dialog"] = round(per_call / 2, 2)
        if isinstance(sample["live_calls_api"], int) and sample["live_calls_api"] != spec["calls"]:
            r.setdefault("problems", []).append(
                f"{sample['live_calls_api']} live calls at the sample, not {spec['calls']}")
            r["ok"] = False
    if established is not None:
        r["established"] = established
        if established.get("problems"):
            r.setdefault("problems", []).extend(established["problems"])
            r["ok"] = False
    json.dump(r, open(out, "w"), indent=1)
    tag = spec.get("label", "")
    line = f"{tag} {spec['rate']}/s x {spec['calls']}: {r['completed']} completed, {r['failed']} failed"
    if r.get("achieved_rate") is not None:
        line += f", achieved {r['achieved_rate']}/s"
    if r.get("cpu_us_per_call") is not None:
        line += f", server {r['cpu_us_per_call']} us/call"
    if r.get("sipp_cpu_us_per_call") is not None:
        line += f", sipp {r['sipp_cpu_us_per_call']} us/call"
    if r.get("kb_per_dialog") is not None:
        line += f", {r['kb_per_dialog']} kB/dialog ({r.get('held_calls')} calls held)"
    if (r.get("established") or {}).get("kb_per_dialog") is not None:
        line += f", established {r['established']['kb_per_dialog']} kB/dialog"
    if any(r.get("udp_drops", {}).values()):
        line += f", UDP drops {r['udp_drops']}"
    if r.get("problems"):
        line += "; " + "; ".join(r["problems"])
    log(line.strip())


def cmd_tail(args):
    """Server CPU over SECS of no traffic. Args: PID SECS OUT."""
    pid, secs, out = args[0], float(args[1]), args[2]
    c0, t0 = proc_cpu_s(pid), thread_cpu_s(pid)
    time.sleep(secs)
    c1 = proc_cpu_s(pid)
    r = {"secs": secs, "server_cpu_s": round(c1 - c0, 3) if None not in (c0, c1) else None,
         "server_cpu_by_thread_s": by_thread_name(t0, thread_cpu_s(pid)),
         "rss_mb": round((proc_status_kb(pid, "VmRSS") or 0) / 1024, 1),
         "vmhwm_mb": round((proc_status_kb(pid, "VmHWM") or 0) / 1024, 1)}
    json.dump(r, open(out, "w"))


def cmd_vmhwm(args):
    v = proc_status_kb(args[0], "VmHWM")
    print(round(v / 1024, 1) if v else "")


def cmd_sustained(args):
    """Exit 0 when the step JSON file says ok and sustained."""
    d = json.load(open(args[0]))
    sys.exit(0 if d.get("ok") and d.get("sustained") else 1)


def cmd_ok(args):
    """Exit 0 when the step JSON file says ok."""
    sys.exit(0 if json.load(open(args[0])).get("ok") else 1)


# ----- report --------------------------------------------------------------

def load(path):
    try:
        return json.load(open(path))
    except (OSError, ValueError):
        return None


def backend_entry(bdir, rates, baseline):
    entry = {}
    for name in ("skipped", "error"):
        p = os.path.join(bdir, name)
        if os.path.exists(p):
            entry[name] = open(p).read().strip()
    if not os.path.isdir(bdir):
        entry["skipped"] = "not requested"
        return entry
    for name in ("warmup", "memory"):
        v = load(os.path.join(bdir, f"{name}.json"))
        if v is not None:
            entry[name] = v
    settle = load(os.path.join(bdir, "settle.json"))
    if settle is not None:
        # CPU spent after the warm-up and memory calls had all ended, before
        # any other traffic: their deferred work, per call.
        ended = sum((entry.get(n) or {}).get("completed") or 0 for n in ("warmup", "memory"))
        if ended and settle.get("server_cpu_s") is not None:
            settle["calls"] = ended
            settle["deferred_us_per_call"] = round(settle["server_cpu_s"] * 1e6 / ended, 1)
        entry["settle_after_memory"] = settle
    steps = []
    for rate in rates:
        v = load(os.path.join(bdir, f"step-{rate}.json"))
        if v is None:
            continue
        b = baseline.get(rate) if baseline else None
        if "not_run" in v:
            steps.append(v)
            continue
        if b and b.get("sipp_cpu_us_per_call"):
            v["baseline_sipp_cpu_us_per_call"] = b["sipp_cpu_us_per_call"]
            if v.get("cpu_us_per_call") is not None:
                v["vs_baseline"] = round(v["cpu_us_per_call"] / b["sipp_cpu_us_per_call"], 2)
        steps.append(v)
    not_run = [s["rate"] for s in steps if "not_run" in s]
    if not_run:
        entry["rates_not_run"] = not_run
        entry["rates_not_run_why"] = steps[-1]["not_run"]
    steps = [s for s in steps if "not_run" not in s]
    entry["steps"] = steps
    ok_steps = [s for s in steps if s.get("ok")]
    entry["highest_zero_failure_rate"] = max((s["rate"] for s in ok_steps), default=None)
    entry["highest_sustained_rate"] = max((s["rate"] for s in ok_steps if s.get("sustained")), default=None)
    # A rate after the first failing step does not count as "zero failures
    # up to here"; report the first failure too.
    first_fail = next((s["rate"] for s in steps if not s.get("ok")), None)
    entry["first_failing_rate"] = first_fail
    entry["cpu_us_per_call_by_rate"] = {str(s["rate"]): s.get("cpu_us_per_call") for s in steps}
    tail = load(os.path.join(bdir, "tail.json"))
    if tail is not None:
        entry["tail"] = tail
    total_cpu = sum(s.get("server_cpu_s") or 0 for s in steps)
    total_calls = sum(s.get("completed") or 0 for s in steps)
    if total_calls:
        tail_cpu = (tail or {}).get("server_cpu_s") or 0
        entry["cpu_us_per_call_overall"] = round((total_cpu + tail_cpu) * 1e6 / total_calls, 1)
        entry["calls_total"] = total_calls
    extra = load(os.path.join(bdir, "server.json"))
    if extra:
        entry.update(extra)
    return entry


def cmd_report(args):
    results_dir = args[0]
    rates = [int(r) for r in os.environ["RATES"].split()]
    E = os.environ
    targets = {
        "cpu_us_per_call": int(E["TARGET_CPU_US_PER_CALL"]),
        "calls_per_s_one_core": int(E["TARGET_CALLS_PER_S"]),
        "kb_per_dialog": int(E["TARGET_KB_PER_DIALOG"]),
    }
    report = {
        "scenario": "sipp UAC -> Omnivox (DID forwarded to a number) -> sipp UAS, UDP; "
                    "INVITE+SDP / 200+SDP / ACK / BYE / 200 on both legs",
        "server_cores": E["SERVER_CPU"], "tokio_workers": 1, "sipp_cores": E["SIPP_CPU"],
        "step_secs": int(E["STEP_SECS"]), "rates": rates,
        "hold_calls": int(E["HOLD_CALLS"]), "hold_rate": int(E["HOLD_RATE"]),
        "sipp": E.get("SIPP_VERSION", ""),
        "cpu": cpu_model(),
        "git_rev": E.get("GIT_REV", "unknown"),
        "timestamp": E.get("STAMP", ""),
        "logs": E.get("LOGS", ""),
    }
    base = {}
    bdir = os.path.join(results_dir, "baseline")
    if os.path.isdir(bdir):
        steps = [load(os.path.join(bdir, f"step-{r}.json")) for r in rates]
        steps = [s for s in steps if s]
        base = {s["rate"]: s for s in steps}
        report["baseline_direct"] = {
            "what": "sipp UAC -> sipp UAS directly, same scenarios and rates; sipp_cpu_us_per_call is UAC + UAS",
            "steps": steps,
            "highest_zero_failure_rate": max((s["rate"] for s in steps if s.get("ok")), default=None),
        }
    else:
        report["baseline_direct"] = {"skipped": "--skip-baseline"}
    all_ok = True
    for backend in ("sqlite", "postgres"):
        e = backend_entry(os.path.join(results_dir, backend), rates, base)
        report[backend] = e
        if "skipped" in e:
            continue
        if "error" in e or not (e.get("warmup") or {}).get("ok") or not (e.get("memory") or {}).get("ok"):
            all_ok = False
        if e.get("highest_zero_failure_rate") is None:
            all_ok = False
    report["targets"] = targets
    sq = report["sqlite"]
    measured = "steps" in sq and "error" not in sq
    # CPU per call: at the target rate when that step ran cleanly, else at
    # the highest clean step (the figure hardly depends on the rate).
    ok_steps = [s for s in sq.get("steps", []) if s.get("ok") and s.get("cpu_us_per_call") is not None]
    at = next((s for s in ok_steps if s["rate"] == targets["calls_per_s_one_core"]), None)
    at = at or (ok_steps[-1] if ok_steps else None)
    cpu_at = at["cpu_us_per_call"] if at else None
    deferred = (sq.get("settle_after_memory") or {}).get("deferred_us_per_call")
    established = (sq.get("memory") or {}).get("established") or {}
    report["headline"] = {
        "cpu_us_per_call": cpu_at,
        "deferred_us_per_call": deferred,
        "cpu_us_per_call_with_deferred": round(cpu_at + deferred, 1)
        if cpu_at is not None and deferred is not None else None,
        "cpu_us_per_call_at_rate": at["rate"] if at else None,
        "cpu_us_per_call_overall": sq.get("cpu_us_per_call_overall"),
        "highest_zero_failure_rate": sq.get("highest_zero_failure_rate"),
        "highest_sustained_rate": sq.get("highest_sustained_rate"),
        "kb_per_dialog": (sq.get("memory") or {}).get("kb_per_dialog"),
        "kb_per_call": (sq.get("memory") or {}).get("kb_per_call"),
        "kb_per_dialog_established": established.get("kb_per_dialog"),
        "kb_per_call_established": established.get("kb_per_call"),
        "baseline_sipp_cpu_us_per_call": (at or {}).get("baseline_sipp_cpu_us_per_call"),
    }
    report["met"] = {
        "cpu_us_per_call": (cpu_at <= targets["cpu_us_per_call"]) if cpu_at is not None else None,
        "calls_per_s_one_core": ((sq.get("highest_sustained_rate") or 0) >= targets["calls_per_s_one_core"])
        if measured else None,
        "kb_per_dialog": (established["kb_per_dialog"] <= targets["kb_per_dialog"])
        if measured and established.get("kb_per_dialog") is not None else None,
    }
    report["met_basis"] = (f"SQLite: cpu_us_per_call at the {targets['calls_per_s_one_core']}/s step "
                           "(else the highest step without failures); calls_per_s_one_core: "
                           "highest step with zero failures and >= 95% of its rate achieved; "
                           "kb_per_dialog: the memory step's established calls (kb_per_dialog "
                           "in the headline is the first batch, younger than the 32 s linger "
                           "of their INVITE transactions)")
    noisy = [f"{b}/{s['rate']}" for b in ("sqlite", "postgres") for s in report[b].get("steps", [])
             if s.get("noise_warning")]
    if noisy:
        report["noise_warning"] = "other processes were busy during: " + ", ".join(noisy)
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
    "password": cmd_password, "hex": cmd_hex, "ports": cmd_ports, "setup": cmd_setup,
    "step": cmd_step, "tail": cmd_tail, "vmhwm": cmd_vmhwm, "ok": cmd_ok,
    "sustained": cmd_sustained,
    "report": cmd_report, "all-ok": cmd_all_ok,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]](sys.argv[2:])
PY
py() { ROOT=$ROOT SIPP=$SIPP python3 "$WORK/bench.py" "$@"; }

# ---------------------------------------------------------------------------
# Tools.

command -v python3 >/dev/null 2>&1 || die "python3 is required"
need_apt curl curl
need_apt util-linux taskset
need_apt sip-tester "$SIPP"
[ "$(nproc --all)" -ge 2 ] || die "needs at least 2 CPU cores (server on core $SERVER_CPU, sipp on core $SIPP_CPU)"
SIPP_VERSION=$("$SIPP" -v 2>&1 | grep -o 'SIPp v[^ ]*' | head -n 1 || true)

# Which backends to run (sets PG_URL and BACKENDS), and the release build.
select_backends_and_build

# Numbers: the DID the carrier calls, and the outside number it forwards to
# (NANP, allowed by the default dial policy; not premium).
DID=+12025550123
FORWARD_TO=+13125550199

# spec NAME DIR RATE CALLS HOLD_MS TARGET SERVICE [extra JSON fields]: the
# JSON spec of one sipp run (ports from the current backend or baseline).
spec() {
    local label=$1 dir=$2 rate=$3 calls=$4 hold=$5 target=$6 service=$7 extra=${8:-}
    printf '{"label":"%s","dir":"%s","rate":%s,"calls":%s,"hold_ms":%s,"target":"%s","service":"%s",' \
        "$label" "$dir" "$rate" "$calls" "$hold" "$target" "$service"
    printf '"uac_port":%s,"uas_port":%s,"uac_media_port":%s,"uas_media_port":%s,"sipp_cpus":"%s"%s}' \
        "$UAC_PORT" "$UAS_PORT" "$UAC_MEDIA" "$UAS_MEDIA" "$SIPP_CPU" "$extra"
}

# ---------------------------------------------------------------------------
# Baseline: sipp UAC -> sipp UAS directly, the same rates.
run_baseline() {
    local dir=$WORK/results/baseline r
    mkdir -p "$dir"
    read -r UAC_PORT UAS_PORT UAC_MEDIA UAS_MEDIA <<<"$(py ports 2 2)"
    log "baseline: sipp -> sipp directly (both on core $SIPP_CPU)"
    for r in $RATES; do
        py step "$(spec baseline "$dir/$r" "$r" $((r * STEP_SECS)) 0 "127.0.0.1:$UAS_PORT" "$FORWARD_TO")" \
            "$dir/step-$r.json"
    done
}

# ---------------------------------------------------------------------------
# One backend, run in a subshell: start the server, measure, clean up.

EMAIL=bench@example.com
PASSWORD=$(py password)

BACKEND_NAME=""
BACKEND_DIR=""
SERVER_PID=""
PG_SCHEMA=""

# save_logs DIR NAME: keep the server log and sipp's error logs of a run
# (at most 1 MB each) under $LOG_DIR/NAME.
save_logs() {
    local dir=$1 name=$2 f rel
    [ -d "$dir" ] || return 0
    for f in "$dir"/server.log "$dir"/*/uac-errors.log "$dir"/*/uas-errors.log; do
        [ -s "$f" ] || continue
        rel=${f#"$dir"/}
        mkdir -p "$LOG_DIR/$name"
        head -c 1000000 "$f" >"$LOG_DIR/$name/${rel//\//-}"
    done
}

# Stop the server (SIGTERM, then SIGKILL) and drop the PostgreSQL schema.
stop_backend() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -f "$BACKEND_DIR/server.pid"
    save_logs "$BACKEND_DIR" "$BACKEND_NAME"
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

    local http_port metrics_port sip_port db_env
    local uac2_port uac2_media
    read -r http_port metrics_port sip_port UAC_PORT UAS_PORT uac2_port UAC_MEDIA UAS_MEDIA uac2_media \
        <<<"$(py ports 6 3)"
    local base=http://127.0.0.1:$http_port
    if [ "$backend" = sqlite ]; then
        db_env=("OMNIVOX__DATABASE__URL=sqlite://$dir/data/omnivox.db")
    else
        PG_SCHEMA=ovx_bench_$(py hex)
        db_env=("OMNIVOX__DATABASE__URL=$PG_URL" "OMNIVOX__DATABASE__SCHEMA=$PG_SCHEMA")
    fi

    # SIP settings: UDP only; the carrier's address is trusted by the guard
    # (no per-source rate limit, as for a real carrier); no OPTIONS pings to
    # the UAS (it only knows calls); room for the held calls.
    cat >"$dir/sip.toml" <<EOF
[sip]
enabled = true
domain_suffix = "bench.omnivox"

[sip.server]
bind = "127.0.0.1:$sip_port"
udp = true
tcp = false

[sip.server.guard]
trusted_networks = ["127.0.0.1/32"]

[sip.server.calls]
max_calls = 20000
ring_timeout_secs = 30
trunk_check_secs = 0

# Every call leg takes an RTP port pair: the held calls need 2 pairs each.
# sipp sends no RTP here, so the silence timeout is off.
[sip.server.media]
port_min = 10000
port_max = 59999
rtp_timeout_secs = 0
EOF

    # The server runs from the temp dir so it picks up no local config/data.
    log "$backend: starting server (HTTP $base, SIP udp 127.0.0.1:$sip_port; core $SERVER_CPU, 1 worker thread)"
    (
        cd "$dir/data"
        exec taskset -c "$SERVER_CPU" env TOKIO_WORKER_THREADS=1 \
            OMNIVOX__HTTP__BIND="127.0.0.1:$http_port" \
            OMNIVOX__HTTP__PUBLIC_URL="$base" \
            OMNIVOX__HTTP__SHUTDOWN_GRACE_SECS=2 \
            OMNIVOX__METRICS__BIND="127.0.0.1:$metrics_port" \
            OMNIVOX__SIP__SERVER__SHUTDOWN__GRACE_SECS=2 \
            "${db_env[@]}" \
            OMNIVOX__RATE_LIMIT__ENABLED=false \
            OMNIVOX__LOG__LEVEL=warn \
            OMNIVOX__LOG__FORMAT=json \
            OMNIVOX__BOOTSTRAP__OWNER_EMAIL="$EMAIL" \
            OMNIVOX__BOOTSTRAP__OWNER_PASSWORD="$PASSWORD" \
            OMNIVOX__BOOTSTRAP__TENANT_NAME="Bench Center" \
            "$BIN" --config "$dir/sip.toml" serve
    ) </dev/null >"$dir/server.log" 2>&1 &
    SERVER_PID=$!
    echo "$SERVER_PID" >"$dir/server.pid"

    local deadline=$((SECONDS + 60))
    until [ "$(http_status GET "$base/readyz")" = 200 ]; do
        kill -0 "$SERVER_PID" 2>/dev/null ||
            fail "server exited during startup; last log lines: $(tail -n 20 "$dir/server.log")"
        [ "$SECONDS" -lt "$deadline" ] ||
            fail "GET /readyz did not return 200 within 60 s; last log lines: $(tail -n 20 "$dir/server.log")"
        sleep 0.2
    done
    log "$backend: ready"

    # Enough trunks for the highest rate (the API caps one at 1000/s).
    local max_rate n_trunks
    max_rate=$(echo "$RATES $HOLD_RATE $WARMUP_RATE" | tr ' ' '\n' | sort -n | tail -n 1)
    n_trunks=$(((max_rate + 999) / 1000))
    BENCH_EMAIL=$EMAIL BENCH_PASSWORD=$PASSWORD \
        py setup "$base" "$UAS_PORT" "$DID" "$FORWARD_TO" "$n_trunks" "$dir/setup.json" 2>"$dir/setup.err" ||
        fail "API setup failed: $(cat "$dir/setup.err")"
    local tenant token
    tenant=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tenant"])' "$dir/setup.json")
    token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$dir/setup.json")
    log "$backend: $n_trunks trunk(s) to the UAS at 127.0.0.1:$UAS_PORT, DID $DID -> $FORWARD_TO"

    local target=127.0.0.1:$sip_port pg=""
    [ "$backend" = postgres ] && pg=',"postgres":true'
    local common=",\"server_pid\":$SERVER_PID,\"server_sip_port\":$sip_port$pg"

    # Warm-up: every call must complete, else the setup is wrong.
    py step "$(spec "$backend/warmup" "$dir/warmup" "$WARMUP_RATE" "$WARMUP_CALLS" 0 "$target" "$DID" "$common")" \
        "$dir/warmup.json"
    if ! py ok "$dir/warmup.json"; then
        fail "warm-up calls failed: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("; ".join(d.get("problems", [])), "|", " | ".join(d.get("error_sample", [])))' "$dir/warmup.json") | server log: $(tail -n 5 "$dir/server.log")"
    fi

    # Memory: HOLD_CALLS calls up at once, sampled 2 s after the last is up
    # (their INVITE transactions still linger). Then, once every one of
    # them is past the 32 s linger, a second batch of as many: the RSS
    # it adds is the cost of established calls (see established_batch).
    local ramp_s=$(((HOLD_CALLS + HOLD_RATE - 1) / HOLD_RATE))
    local sample_s=$((ramp_s + 2))
    local second_s=$((ramp_s + 36))
    local hold_ms=$(((second_s + ramp_s + 6) * 1000))
    sleep 1
    BENCH_TOKEN=$token py step "$(spec "$backend/memory" "$dir/memory" "$HOLD_RATE" "$HOLD_CALLS" "$hold_ms" "$target" "$DID" \
        "$common,\"sample_after_s\":$sample_s,\"calls_url\":\"$base/api/v1/tenants/$tenant/calls\",\"settle_s\":1,\"second_batch_after_s\":$second_s,\"uas_calls\":$((HOLD_CALLS * 2)),\"uac2_port\":$uac2_port,\"uac2_media_port\":$uac2_media")" \
        "$dir/memory.json"

    # The deferred per-call work of the warm-up and memory calls (timers of
    # finished transactions, 32 s) lands here, not in the first steps.
    if [ "$TAIL_SECS" -gt 0 ]; then
        log "$backend: ${TAIL_SECS}s without traffic (deferred work of the warm-up and held calls)"
        py tail "$SERVER_PID" "$TAIL_SECS" "$dir/settle.json"
    fi

    # The rate steps, ascending; after the first step with failed calls or
    # that fell behind its rate, higher rates are not run (they would only
    # pile up more overload: retransmissions, memory).
    local r stop=""
    for r in $RATES; do
        if [ -n "$stop" ]; then
            printf '{"rate": %s, "not_run": "%s"}\n' "$r" "$stop" >"$dir/step-$r.json"
            continue
        fi
        py step "$(spec "$backend" "$dir/$r" "$r" $((r * STEP_SECS)) 0 "$target" "$DID" "$common")" \
            "$dir/step-$r.json"
        py sustained "$dir/step-$r.json" || stop="the $r/s step failed or fell behind its rate"
    done

    if [ "$TAIL_SECS" -gt 0 ]; then
        log "$backend: ${TAIL_SECS}s without traffic (deferred per-call work)"
        py tail "$SERVER_PID" "$TAIL_SECS" "$dir/tail.json"
    fi
    printf '{"vmhwm_mb": %s, "trunks": %s}\n' "$(py vmhwm "$SERVER_PID")" "$n_trunks" >"$dir/server.json"

    # The server logs at warn level, so anything in its log is worth a look.
    if [ -s "$dir/server.log" ]; then
        log "$backend: server logged warnings/errors ($(wc -l <"$dir/server.log") lines); last lines:"
        tail -n 5 "$dir/server.log" >&2
    fi
}

if [ "$SKIP_BASELINE" -eq 0 ]; then
    run_baseline
    save_logs "$WORK/results/baseline" baseline
fi

for backend in "${BACKENDS[@]}"; do
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
GIT_REV=$(git describe --always --dirty 2>/dev/null || echo unknown)
STAMP=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOGS=""
[ -d "$LOG_DIR" ] && LOGS=${LOG_DIR#"$ROOT"/}
export GIT_REV STAMP LOGS RATES STEP_SECS HOLD_CALLS HOLD_RATE SERVER_CPU SIPP_CPU SIPP_VERSION \
    TARGET_CPU_US_PER_CALL TARGET_CALLS_PER_S TARGET_KB_PER_DIALOG
py report "$WORK/results" >"$WORK/report.json"
out=bench/results/sip-$RUN_STAMP.json
cp "$WORK/report.json" "$out"
cp "$WORK/report.json" bench/results/sip-latest.json
cat "$WORK/report.json"
log "saved $out (and bench/results/sip-latest.json)${LOGS:+; logs in $LOGS}"
py all-ok "$WORK/report.json"
