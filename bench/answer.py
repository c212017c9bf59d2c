#!/usr/bin/env python3
"""Answer-to-agent-bridge latency benchmark (a measurement, not a test).

A sipp carrier calls a DID routed to a queue; Omnivox answers the caller at
once (hold music) and offers the call to the longest-idle of N agents, each
a member with the agent role and a SIP account whose phone is a sipp UAS
(registered from the port it then answers on). The phone answers at once
and, as soon as the ACK arrives, talks: PCMU whose every payload byte is
its agent's marker (bench/sipp/answer_agent.xml). The caller's SDP points
its media at a UDP listener in this script, which takes kernel receive
timestamps (SO_TIMESTAMPNS).

The latency of one call: the time the agent's phone sent its 200 OK (from
sipp's message trace) -> the time the first packet of that agent's marker
reached the caller's media address through Omnivox (the bridge is real:
the caller hears the agent). An agent takes one call at a time, so the
agent's n-th answer owns the marker packets that arrive before its next
answer; the first of them must open a stream (a new source or SSRC, or the
capture's first packet).

Baseline in the same run: the same caller and phone scenarios with each
call going straight to one phone (the phones in turn; no Omnivox), so its
figures are what sipp, the ACK and the listener themselves add.

Also reported per run: how many of each call's 50 agent packets never
reached the caller (agent_packets_lost; Omnivox drops what arrives before
its call actor has taken the phone's answer), and for Omnivox the time
from the caller's 200 (Omnivox answered) to the agent's phone receiving
the offer (caller_answered_to_offer_ms; each call has its own caller
number, which the offer carries).

  python3 bench/answer.py [--quick] [--skip-build] [--calls N] [--agents N]
                          [--rate R] [--talk S]

The release server runs on SQLite in a temp data dir, bound to 127.0.0.1.
One JSON object goes to stdout and to bench/results/answer-<timestamp>.json
(and answer-latest.json); the server log and sipp's error logs, when not
empty, to bench/results/answer-<timestamp>-logs/; progress to stderr.
Exit status 0 when every call of both runs was measured, 1 otherwise (the
JSON is still written). Missing the target does not fail the run: see
"met".
"""

import argparse
import calendar
import json
import math
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIPP = os.environ.get("SIPP", "sipp")
TARGET_P99_MS = 300
DID = "+12025550123"
OWNER_EMAIL = "bench@example.com"
CLK_TCK = os.sysconf("SC_CLK_TCK")
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux
# PCMU marker bytes: not silence (0xFF, 0x7F) nor next to it.
MARKERS = [b for b in range(0x10, 0xF0) if b not in range(0x70, 0x90)]
PACKETS = 50  # 1 s of agent audio (20 ms packets) after each ACK
PROCS = []  # every child process, for cleanup


def log(msg):
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ----- processes and ports --------------------------------------------------

def spawn(cmd, cwd, out, env=None):
    f = open(out, "w")
    p = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                         env={**os.environ, "TZ": "UTC", **(env or {})})
    f.close()
    PROCS.append(p)
    return p


def stop(p, sig=signal.SIGTERM, grace=10):
    """Signal P (if still running) and reap it; SIGKILL after GRACE s."""
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def cleanup():
    for p in reversed(PROCS):
        stop(p, grace=5)


def proc_cpu_s(pid):
    try:
        s = open(f"/proc/{pid}/stat").read()
    except OSError:
        return 0.0
    f = s[s.rfind(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / CLK_TCK


def machine_busy_s():
    v = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK


TAKEN = set()


def free_port():
    """A port free for UDP and TCP on 127.0.0.1, with port+2 free too (sipp
    binds its media port and the one two above)."""
    for _ in range(500):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        cands = [port, port + 1, port + 2]
        if port > 65000 or TAKEN.intersection(cands):
            continue
        try:
            for p in cands:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(socket.AF_INET, kind) as t:
                        t.bind(("127.0.0.1", p))
        except OSError:
            continue
        TAKEN.update(cands)
        return port
    raise BenchError("no free port found")


# ----- HTTP API -------------------------------------------------------------

def request(method, url, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")[:300]
    except OSError as e:
        return 0, str(e)


def api(method, url, token, body, want):
    st, out = request(method, url, token, body)
    if st != want:
        raise BenchError(f"{method} {url}: HTTP {st}: {str(out)[:300]}")
    return out


def login(base, email, password):
    body = {"email": email, "password": password}
    return api("POST", f"{base}/api/v1/auth/login", None, body, 200)["access_token"]


def password():
    while True:
        pw = secrets.token_urlsafe(24)
        if "bench" not in pw.lower() and "agent" not in pw.lower():
            return pw


# ----- the agents' audio ------------------------------------------------------

def marker_pcap(marker):
    """PACKETS 20 ms PCMU RTP packets whose payload bytes all equal MARKER,
    over UDP/IPv4/Ethernet (sipp's play_pcap_audio rewrites the addresses).
    The first packet has the marker bit and sequence number 0."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for n in range(PACKETS):
        rtp = struct.pack("!BBHII", 0x80, 0x80 if n == 0 else 0, n, n * 160, 0x5EED0000 + marker)
        udp = struct.pack("!HHHH", 6000, 6002, 8 + len(rtp) + 160, 0) + rtp + bytes([marker]) * 160
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n, 0, 64, 17, 0,
                                   b"\x7f\0\0\x01", b"\x7f\0\0\x01"))
        s = sum(struct.unpack("!10H", ip))
        s = (s & 0xFFFF) + (s >> 16)
        ip[10:12] = struct.pack("!H", ~(s + (s >> 16)) & 0xFFFF)
        frame = b"\0\0\0\0\0\x02\0\0\0\0\0\x01\x08\x00" + bytes(ip) + udp
        out += struct.pack("<IIII", 0, n * 20_000, len(frame), len(frame)) + frame
    return bytes(out)


class Listener(threading.Thread):
    """The caller's media address: records (kernel time, marker, source,
    SSRC, sequence) of every packet whose payload is all one agent
    marker, and counts the others (hold music)."""

    def __init__(self, markers):
        super().__init__(daemon=True)
        self.markers = set(markers)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.marked = []
        self.other = 0
        self.done = threading.Event()

    def run(self):
        space = socket.CMSG_SPACE(16)
        while not self.done.is_set():
            try:
                data, anc, _, src = self.sock.recvmsg(2048, space)
            except socket.timeout:
                continue
            ts = None
            for level, kind, d in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, ns = struct.unpack("qq", d[:16])
                    ts = sec + ns / 1e9
            body = data[12 + 4 * (data[0] & 0x0F):] if len(data) > 12 else b""
            if ts is not None and body and body[0] in self.markers and body.count(body[0]) == len(body):
                ssrc, = struct.unpack("!I", data[8:12])
                seq, = struct.unpack("!H", data[2:4])
                self.marked.append((ts, body[0], src[1], ssrc, seq))
            else:
                self.other += 1

    def close(self):
        self.done.set()
        self.join()
        self.sock.close()


# ----- sipp -------------------------------------------------------------------

def start_agent(work, name, port, media_port, marker):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    # sipp loads captures next to the scenario first: keep both here.
    shutil.copy(os.path.join(ROOT, "bench/sipp/answer_agent.xml"), d)
    with open(os.path.join(d, "agent.pcap"), "wb") as f:
        f.write(marker_pcap(marker))
    return spawn([SIPP, "-sf", "answer_agent.xml", "-i", "127.0.0.1", "-mi", "127.0.0.1",
                  "-p", str(port), "-mp", str(media_port), "-nostdin",
                  "-trace_msg", "-trace_err"], d, os.path.join(d, "sipp.out"))


def wait_bound(p, port):
    """Until sipp has bound its UDP PORT (or exited)."""
    t_end = time.monotonic() + 10
    while time.monotonic() < t_end and p.poll() is None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.05)
    raise BenchError(f"sipp did not bind 127.0.0.1:{port} (exit status {p.poll()})")


def run_caller(work, dests, listen_port, calls, rate, talk_ms):
    """The caller: CALLS calls at RATE/s, call i to 127.0.0.1:DESTS[i % len]."""
    d = os.path.join(work, "caller")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "calls.csv"), "w") as f:
        # Per call: where it goes; the caller's number (one per call).
        f.write("SEQUENTIAL\n" + "".join(f"{dests[i % len(dests)]};+1202555{i:04d}\n" for i in range(calls)))
    port, media = free_port(), free_port()
    timeout = int(calls / rate + talk_ms / 1000 + 60)
    p = spawn([SIPP, f"127.0.0.1:{dests[0]}", "-sf", os.path.join(ROOT, "bench/sipp/answer_caller.xml"),
               "-inf", "calls.csv", "-key", "listen_port", str(listen_port), "-s", DID[1:],
               "-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", str(port), "-mp", str(media),
               "-r", str(rate), "-rp", "1000", "-m", str(calls), "-l", str(calls), "-d", str(talk_ms),
               "-timeout", f"{timeout}s", "-nostdin", "-trace_err", "-trace_msg",
               "-trace_stat", "-stf", "caller.csv", "-fd", "1"], d, os.path.join(d, "sipp.out"))
    try:
        p.wait(timeout + 30)
    except subprocess.TimeoutExpired:
        stop(p)
    stats = {}
    try:
        lines = [ln for ln in open(os.path.join(d, "caller.csv"), errors="replace") if ln.strip()]
        stats = dict(zip(lines[0].split(";"), lines[-1].split(";")))
    except (OSError, IndexError):
        pass

    def n(key):
        try:
            return int(stats.get(key, 0))
        except ValueError:
            return 0
    return {"exit": p.returncode, "placed": n("OutgoingCall(C)"), "completed": n("SuccessfulCall(C)"),
            "failed": n("FailedCall(C)"), "retransmissions": n("Retransmissions(C)")}


def messages(sipp_dir):
    """Each message in a sipp -trace_msg log, in order: (time, "sent" or
    "received", first line, headers by lower-case name). Times are UTC
    (sipp runs with TZ=UTC)."""
    for name in sorted(os.listdir(sipp_dir)):
        if not name.endswith("_messages.log"):
            continue
        for block in open(os.path.join(sipp_dir, name), errors="replace").read().split("-" * 47 + " ")[1:]:
            lines = block.splitlines()
            if len(lines) < 4:
                continue
            day, clock = lines[0].split()[:2]
            whole, frac = clock.split(".")
            t = calendar.timegm(time.strptime(f"{day} {whole}", "%Y-%m-%d %H:%M:%S")) + float("0." + frac)
            head = {}
            for ln in lines[4:]:
                if not ln.strip():
                    break
                k, _, v = ln.partition(":")
                head.setdefault(k.strip().lower(), v.strip())
            yield t, "sent" if "message sent" in lines[1] else "received", lines[3], head


def caller_of(head):
    """The caller's number (the From user: one per call, from the
    injection file)."""
    f = head.get("from", "")
    return f[f.find("sip:") + 4:f.find("@")] if "sip:" in f else None


def first_per_call(sipp_dir, direction, start):
    """{Call-ID: (time, caller)} of the first message in DIRECTION whose
    first line starts with START and whose CSeq is the INVITE's."""
    out = {}
    for t, d, line, head in messages(sipp_dir):
        if d == direction and line.startswith(start) and "INVITE" in head.get("cseq", ""):
            out.setdefault(head.get("call-id"), (t, caller_of(head)))
    return out


def latencies(agent_answers, marked):
    """AGENT_ANSWERS: {marker: sorted answer times}. Each answer's latency
    (s) to the first packet of its agent's marker before the agent's next
    answer; (latencies, packets lost per measured call, unmeasured,
    problems)."""
    by_marker = {}
    for p in sorted(marked):
        by_marker.setdefault(p[1], []).append(p)
    lat, lost, missing, problems = [], [], 0, []
    for marker, ans in agent_answers.items():
        pkts = by_marker.get(marker, [])
        if pkts and ans and pkts[0][0] < ans[0]:
            problems.append(f"marker {marker:#04x}: audio before the agent's first answer")
        seen, j = set(), 0
        for i, t in enumerate(ans):
            t_next = ans[i + 1] if i + 1 < len(ans) else math.inf
            while j < len(pkts) and pkts[j][0] < t:
                seen.add(pkts[j][2:4])
                j += 1
            window = []
            while j < len(pkts) and pkts[j][0] < t_next:
                window.append(pkts[j])
                j += 1
            if not window:
                missing += 1
            elif window[0][2:4] in seen and window[0][4] != 0:
                # Neither a new source/SSRC nor the capture's first packet.
                missing += 1
                problems.append(f"marker {marker:#04x}: the answer at {t:.6f} heard an older stream")
            else:
                lat.append(window[0][0] - t)
                lost.append(max(0, PACKETS - len(window)))
            seen.update(p[2:4] for p in window)
    return lat, lost, missing, problems


def summary(lat):
    if not lat:
        return None
    s = sorted(x * 1000 for x in lat)

    def q(p):
        return round(s[max(0, math.ceil(p * len(s)) - 1)], 2)
    return {"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": round(s[-1], 2),
            "min": round(s[0], 2), "mean": round(sum(s) / len(s), 2)}


def phase(name, work, n_agents, calls, rate, talk_ms, dest_of, before_calls=None, server_pid=None):
    """One run: phones up, the caller's calls, phones down, latencies.
    DEST_OF(agent ports) -> the caller's destinations; BEFORE_CALLS(ports)
    runs once the phones listen (Omnivox: register, log in)."""
    pdir = os.path.join(work, name)
    markers = MARKERS[:n_agents]
    listener = Listener(markers)
    listener.start()
    ports = [free_port() for _ in range(n_agents)]
    if before_calls is not None:
        agents = before_calls(pdir, ports, markers)
    else:
        agents = []
        for k, port in enumerate(ports):
            agents.append(start_agent(pdir, f"agent{k + 1:02d}", port, free_port(), markers[k]))
            wait_bound(agents[-1], port)
    log(f"{name}: {calls} calls at {rate}/s, {talk_ms} ms on the line each, {n_agents} agents")
    busy0, t0, cpu0 = machine_busy_s(), time.monotonic(), sum(os.times()[:4])
    srv0 = proc_cpu_s(server_pid) if server_pid else 0.0
    caller = run_caller(pdir, dest_of(ports), listener.port, calls, rate, talk_ms)
    time.sleep(1.0)  # the last BYEs reach the phones
    for a in agents:
        a.send_signal(signal.SIGUSR1)  # sipp's graceful quit: its traces are flushed
    for a in agents:
        try:
            a.wait(10)
        except subprocess.TimeoutExpired:
            stop(a)
    listener.close()
    wall = time.monotonic() - t0
    srv_cpu = proc_cpu_s(server_pid) - srv0 if server_pid else 0.0
    # Our own CPU: this script, the sipps (reaped children), the server.
    ours = srv_cpu + sum(os.times()[:4]) - cpu0
    other = max(0.0, machine_busy_s() - busy0 - ours) / (wall * (os.cpu_count() or 1))
    per_agent, offers = {}, []
    for k in range(n_agents):
        adir = os.path.join(pdir, f"agent{k + 1:02d}")
        per_agent[markers[k]] = sorted(t for t, _ in first_per_call(adir, "sent", "SIP/2.0 200").values())
        offers += first_per_call(adir, "received", "INVITE ").values()
    lat, lost, missing, problems = latencies(per_agent, listener.marked)
    answered = sum(len(v) for v in per_agent.values())
    r = {"placed": caller["placed"], "answered": answered, "measured": len(lat),
         "latency_ms": summary(lat), "caller_completed": caller["completed"],
         "caller_failed": caller["failed"], "caller_exit": caller["exit"],
         "sip_retransmissions": caller["retransmissions"],
         "calls_per_agent": {"min": min(len(v) for v in per_agent.values()),
                             "max": max(len(v) for v in per_agent.values())},
         "marker_packets": len(listener.marked), "other_packets": listener.other,
         "calls_with_agent_packets_lost": sum(1 for x in lost if x),
         "agent_packets_lost": sum(lost),
         "wall_s": round(wall, 1), "other_load": round(other, 3)}
    if server_pid:
        r["server_cpu_s"] = round(srv_cpu, 2)
        # How long after Omnivox answered the caller the agent's phone got
        # the offer (the caller's number pairs the two legs).
        answered_at = {c: t for t, c in first_per_call(os.path.join(pdir, "caller"), "received",
                                                       "SIP/2.0 200").values()}
        r["caller_answered_to_offer_ms"] = summary(
            [t - answered_at[c] for t, c in offers if c in answered_at])
    if answered < calls:
        problems.append(f"{calls - answered} of {calls} calls were not answered by an agent")
    if missing:
        problems.append(f"{missing} answered calls without the agent's audio at the caller")
    if caller["failed"] or caller["placed"] < calls:
        problems.append(f"the caller placed {caller['placed']}, {caller['failed']} failed")
    if problems:
        r["problems"] = problems[:20]
    r["ok"] = not problems and len(lat) == calls
    lm = r["latency_ms"] or {}
    log(f"{name}: {len(lat)}/{calls} measured, p50 {lm.get('p50')} ms, p99 {lm.get('p99')} ms, "
        f"max {lm.get('max')} ms; other load {other:.0%}" + "".join(f"; {p}" for p in problems[:3]))
    return r


# ----- Omnivox ------------------------------------------------------------------

def start_server(work, binary):
    d = os.path.join(work, "server")
    os.makedirs(os.path.join(d, "data"))
    http, metrics, sip = free_port(), free_port(), free_port()
    with open(os.path.join(d, "omnivox.toml"), "w") as f:
        f.write(f"""[sip]
enabled = true
domain_suffix = "bench.omnivox"

[sip.server]
bind = "127.0.0.1:{sip}"
udp = true
tcp = false

# The carrier and the phones are all on 127.0.0.1: no per-source limits.
[sip.server.guard]
trusted_networks = ["127.0.0.1/32"]

# sipp answers only the first challenge, and only MD5.
[sip.server.auth]
algorithms = ["MD5", "SHA-256"]

# No OPTIONS pings to the carrier (it only knows calls).
[sip.server.calls]
trunk_check_secs = 0
""")
    base = f"http://127.0.0.1:{http}"
    owner_pw = password()
    env = {
        "OMNIVOX__HTTP__BIND": f"127.0.0.1:{http}", "OMNIVOX__HTTP__PUBLIC_URL": base,
        "OMNIVOX__HTTP__SHUTDOWN_GRACE_SECS": "2", "OMNIVOX__METRICS__BIND": f"127.0.0.1:{metrics}",
        "OMNIVOX__SIP__SERVER__SHUTDOWN__GRACE_SECS": "2",
        "OMNIVOX__DATABASE__URL": f"sqlite://{d}/data/omnivox.db",
        "OMNIVOX__RATE_LIMIT__ENABLED": "false",
        "OMNIVOX__LOG__LEVEL": "warn", "OMNIVOX__LOG__FORMAT": "json",
        "OMNIVOX__BOOTSTRAP__OWNER_EMAIL": OWNER_EMAIL, "OMNIVOX__BOOTSTRAP__OWNER_PASSWORD": owner_pw,
        "OMNIVOX__BOOTSTRAP__TENANT_NAME": "Bench Center",
    }
    inherited = sorted(k for k in os.environ if k.startswith("OMNIVOX__"))
    if inherited:
        log(f"note: inherited settings also apply: {' '.join(inherited)}")
    # Run from the data dir so no local config or data is picked up.
    p = spawn([binary, "--config", os.path.join(d, "omnivox.toml"), "serve"], os.path.join(d, "data"),
              os.path.join(d, "server.log"), env)
    t_end = time.monotonic() + 60
    while request("GET", f"{base}/readyz")[0] != 200:
        if p.poll() is not None or time.monotonic() > t_end:
            tail = open(os.path.join(d, "server.log"), errors="replace").read()[-2000:]
            raise BenchError(f"the server did not get ready: {tail}")
        time.sleep(0.2)
    return p, base, sip, owner_pw


def setup_tenant(base, owner_pw, carrier_port):
    token = login(base, OWNER_EMAIL, owner_pw)
    tenant = api("GET", f"{base}/api/v1/me", token, None, 200)["memberships"][0]["tenant_id"]
    t = f"{base}/api/v1/tenants/{tenant}"
    api("POST", f"{t}/trunks", token, {"name": "carrier", "host": "127.0.0.1", "port": carrier_port,
                                       "allowed_sources": ["127.0.0.1"], "max_channels": 1000,
                                       "max_cps": 100}, 201)
    queue = api("POST", f"{t}/queues", token, {"name": "support", "strategy": "longest_idle",
                                               "wrap_up": {"seconds": 0}}, 201)["id"]
    api("POST", f"{t}/dids", token, {"number": DID, "target_kind": "queue", "target_queue_id": queue}, 201)
    return token, t, queue


def omnivox_agents(base, t, token, queue, sip_port):
    """BEFORE_CALLS for the Omnivox run: per agent a member with the agent
    role and a SIP account, registered with sipp from the port its phone
    then answers on, and available in the queue."""
    def before(pdir, ports, markers):
        member_pw, sip_pw = password(), password()
        phones = []
        os.makedirs(pdir, exist_ok=True)
        for k, port in enumerate(ports):
            name = f"agent{k + 1:02d}"
            email = f"{name}@example.com"
            user = api("POST", f"{t}/members", token, {"email": email, "role": "agent", "display_name": name,
                                                       "password": member_pw}, 201)["user"]["id"]
            domain = api("PUT", f"{t}/members/{user}/sip", token, {"username": name, "password": sip_pw},
                         200)["domain"]
            reg = subprocess.run([SIPP, f"127.0.0.1:{sip_port}", "-sf",
                                  os.path.join(ROOT, "crates/sip/tests/sipp/register.xml"),
                                  "-m", "1", "-timeout", "10s", "-nostdin", "-trace_err", "-i", "127.0.0.1",
                                  "-p", str(port), "-mp", str(free_port()), "-key", "domain", domain,
                                  "-key", "user", name, "-key", "expires", "3600",
                                  "-au", name, "-ap", sip_pw],
                                 cwd=pdir, capture_output=True, text=True, timeout=30)
            if reg.returncode != 0:
                raise BenchError(f"{name} did not register (sipp exit {reg.returncode}): "
                                 f"{(reg.stderr + reg.stdout)[-800:]}")
            phones.append(start_agent(pdir, name, port, free_port(), markers[k]))
            wait_bound(phones[-1], port)
            agent_token = login(base, email, member_pw)
            api("POST", f"{t}/agents/me/state", agent_token, {"state": "available", "queues": [queue]}, 200)
        states = [a["state"]["state"] for a in api("GET", f"{t}/agents", token, None, 200)["items"]]
        if states.count("available") != len(ports):
            raise BenchError(f"agents not all available: {states}")
        return phones
    return before


# ----- main ---------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description="Answer-to-agent-bridge latency benchmark (see the module doc).")
    ap.add_argument("--quick", action="store_true", help="100 calls, 10 agents, 4/s (unless given)")
    ap.add_argument("--skip-build", action="store_true", help="use the existing release binary")
    ap.add_argument("--calls", type=int, help="calls per run (default 400; quick 100)")
    ap.add_argument("--agents", type=int, help=f"agents (default 20; quick 10; at most {len(MARKERS)})")
    ap.add_argument("--rate", type=float, help="calls per second (default 5; quick 4)")
    ap.add_argument("--talk", type=float, default=2.0,
                    help="seconds each caller stays on the line (default 2)")
    a = ap.parse_args()
    calls = a.calls or (100 if a.quick else 400)
    n_agents = a.agents or (10 if a.quick else 20)
    a.rate = a.rate or (4.0 if a.quick else 5.0)
    if not (1 <= calls <= 9999 and 1 <= n_agents <= len(MARKERS) and 0 < a.rate <= 100
            and 0.5 <= a.talk <= 60):
        ap.error(f"need 1 <= --calls <= 9999, 1 <= --agents <= {len(MARKERS)}, "
                 "0 < --rate <= 100, 0.5 <= --talk <= 60")
    if n_agents / a.rate < max(PACKETS * 0.02, a.talk) + 0.5:
        # Each agent must be free again before its turn comes round (the
        # baseline's phones take calls in turn and one's audio must end
        # before its next call; through Omnivox no caller should wait).
        ap.error("--agents / --rate must be at least --talk + 0.5 s (and at least 1.5 s)")
    if shutil.which(SIPP) is None:
        ap.error(f"'{SIPP}' not found: install the sip-tester package")
    binary = os.environ.get("OMNIVOX_BENCH_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"), "release", "omnivox")
    if not a.skip_build:
        log("cargo build --release --locked -p omnivox")
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "omnivox"], cwd=ROOT,
                       stdout=sys.stderr, check=True)
    if not os.access(binary, os.X_OK):
        ap.error(f"{binary} not found (build it, or drop --skip-build)")

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    talk_ms = int(a.talk * 1000)
    load_start = os.getloadavg()
    work = tempfile.mkdtemp(prefix="omnivox-answer.")
    report = {
        "benchmark": "answer_to_agent_bridge",
        "scenario": "sipp caller -> DID -> queue (longest idle, wrap-up 0 s) -> agent's sipp phone answers "
                    "at once and talks PCMU after the ACK; latency = phone sends 200 OK -> the caller's "
                    "media address receives that agent's first audio packet (kernel timestamp)",
        "calls": calls, "agents": n_agents, "rate_per_s": a.rate, "talk_s": a.talk,
        "baseline_what": "the same caller and phone scenarios, each call straight to one phone "
                         "(the phones in turn), no Omnivox",
    }
    ok = False
    try:
        report["baseline"] = phase("baseline", work, n_agents, calls, a.rate, talk_ms, lambda ports: ports)
        server, base, sip_port, owner_pw = start_server(work, binary)
        carrier_port = free_port()
        token, t, queue = setup_tenant(base, owner_pw, carrier_port)
        log(f"server ready (SIP 127.0.0.1:{sip_port}); setting up {n_agents} agents")
        report["omnivox"] = phase("omnivox", work, n_agents, calls, a.rate, talk_ms, lambda ports: [sip_port],
                                  omnivox_agents(base, t, token, queue, sip_port), server.pid)
        ok = report["baseline"]["ok"] and report["omnivox"]["ok"]
    except BenchError as e:
        report["error"] = str(e)
        log(f"error: {e}")
    except (KeyboardInterrupt, SystemExit):
        report["error"] = "interrupted"
        raise
    finally:
        cleanup()
        lm = (report.get("omnivox") or {}).get("latency_ms") or {}
        bm = (report.get("baseline") or {}).get("latency_ms") or {}
        report["target"] = {"p99_ms_at_most": TARGET_P99_MS}
        report["met"] = lm["p99"] <= TARGET_P99_MS if lm else None
        if lm and bm:
            report["omnivox_minus_baseline_ms"] = {k: round(lm[k] - bm[k], 2) for k in ("p50", "p90", "p99")}
        report["all_measured"] = ok
        report["machine"] = {"cpu": next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                                          if ln.startswith("model name")), "unknown"),
                             "cores": os.cpu_count(), "loadavg_start": [round(x, 2) for x in load_start],
                             "loadavg_end": [round(x, 2) for x in os.getloadavg()]}
        v = subprocess.run([SIPP, "-v"], capture_output=True, text=True)
        report["sipp"] = next((w for w in (v.stdout + v.stderr).split() if w.startswith("v3")), "unknown")
        report["git_rev"] = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT,
                                           capture_output=True, text=True).stdout.strip() or "unknown"
        report["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        results = os.path.join(ROOT, "bench", "results")
        logs = os.path.join(results, f"answer-{stamp}-logs")
        for root, _, files in os.walk(work):
            for f in files:
                path = os.path.join(root, f)
                if (f == "server.log" or f.endswith("_errors.log")) and os.path.getsize(path):
                    os.makedirs(logs, exist_ok=True)
                    rel = os.path.relpath(path, work).replace(os.sep, "-")
                    with open(path, "rb") as src, open(os.path.join(logs, rel), "wb") as dst:
                        dst.write(src.read(1_000_000))
        if os.path.isdir(logs):
            report["logs"] = os.path.relpath(logs, ROOT)
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(results, exist_ok=True)
        text = json.dumps(report, indent=2)
        for name in (f"answer-{stamp}.json", "answer-latest.json"):
            with open(os.path.join(results, name), "w") as f:
                f.write(text + "\n")
        print(text)
        log(f"saved bench/results/answer-{stamp}.json (and answer-latest.json)")
    return 0 if ok else 1


if __name__ == "__main__":
    # Leave through `finally` (cleanup) on Ctrl-C and SIGTERM too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
