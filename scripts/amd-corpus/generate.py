#!/usr/bin/env python3
"""Labeled corpus for Omnivox's answering-machine detector (crates/media/src/amd).

Every clip is what the dialer hears on an answered outbound leg: 8 kHz mono
16-bit PCM, band-limited to the telephone band (300-3400 Hz) and passed through
G.711 mu-law, as it would arrive over RTP. Two labels:

* ``human``: short live answers ("Hello?", "Hi, this is Sam"), with or without
  leading silence, some with background noise, some where the person says a
  second sentence after a pause because nobody answered.
* ``machine``: voicemail greetings of 2-15 s (personal, business, carrier
  style "The person you are calling is not available..."), with and without a
  beep at various frequencies and lengths, a few with a long silent start, a
  few carrier messages behind special-information tones.

The corpus is deterministic: the clip list comes from a seeded PRNG, speech
from espeak-ng (several voices, speeds, pitches), filtering, resampling,
noise and tones from sox (run with -R, repeatable), mixing and gains here.
Only the Python standard library is used.

Usage:
    generate.py --out DIR [--jobs N]   write DIR/clips/*.wav and DIR/labels.csv
    generate.py --labels-only          print the label list (no tools needed);
                                       scripts/amd-corpus/labels.csv is this
                                       output, committed so drift is visible

DIR/labels.csv holds the committed columns plus timings measured on the
generated audio (speech end, beep end). DIR/.complete records the spec hash,
so a second run with an unchanged spec does nothing.
"""

import argparse
import array
import concurrent.futures
import csv
import hashlib
import io
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import wave

SEED = 20261121
N_HUMAN = 200
N_MACHINE = 200
RATE = 8000
VERSION = "1"

SPEC_COLUMNS = [
    "id", "label", "split", "kind", "voice", "speed", "pitch", "lead_ms",
    "pause_ms", "noise", "snr_db", "gain_db", "gain_step_db", "beep_hz",
    "beep_len_ms", "text",
]
MEASURED_COLUMNS = ["first_speech_end_ms", "speech_end_ms", "beep_end_ms", "duration_ms"]

VOICES = [
    "en-us", "en-us+m3", "en-us+f2", "en-us+f4", "en-gb", "en-gb+f3", "en-gb+m5",
    "en-gb-scotland", "en-gb-scotland+f1", "en-029+m2", "en-gb-x-rp+f5",
    "en-us+m7", "en-gb-x-gbclan", "en-us+klatt",
]

HUMAN_FIRST = [
    "Hello?", "Hello.", "Hi.", "Yeah?", "Yes?", "Hey.", "Hello, who is this?",
    "Hi, this is Sam.", "Hello, Sam speaking.", "Speaking.", "Yep, hello?",
    "Good morning.", "Hello, this is Maria.", "Who's calling?", "Hello, yes?",
    "Uh, hello?", "Smith residence.", "Hi there.", "Yes, hello?", "Hello hello?",
    "This is Dave.", "Hi, who's this?", "Mhm, hello?", "Good afternoon.",
    "Hello, Jones.", "Yeah, hi.",
]
HUMAN_SECOND = [
    "Hello?", "Hello? Anyone there?", "Who is this?", "Can you hear me?",
    "Hello, is someone there?", "I can't hear you.", "Hello? Who's calling?",
    "Yes?",
]
NAMES = ["Sam", "Maria", "John Smith", "Priya", "Dave", "Karen Miller", "Luis", "Anna"]
COMPANIES = ["Acme Plumbing", "Northside Dental", "Bright Insurance", "Lakeview Realty"]
PERSONAL_OPEN = [
    "Hi, you've reached {n}.", "Hello, this is {n}.", "Hey, it's {n}.",
    "You've reached the voicemail of {n}.", "Hi, this is {n}'s phone.",
    "Hello, you have reached {n}.",
]
PERSONAL_BODY = [
    "I can't come to the phone right now.", "I'm not available at the moment.",
    "Sorry I missed your call.", "I'm either on the other line or away from my desk.",
    "Please leave your name, number and a short message.",
    "Leave a message after the beep and I'll call you back as soon as I can.",
    "I'll get back to you as soon as possible.", "Thanks for calling, have a great day.",
    "If this is urgent, please send me a text message instead.",
]
BUSINESS = [
    "Thank you for calling {c}.", "Our office is currently closed.",
    "Our business hours are Monday through Friday, nine to five.",
    "Please leave your name and number and we will return your call on the next business day.",
    "For emergencies, please hang up and dial nine one one.",
    "All of our representatives are busy.",
]
CARRIER = [
    "The person you are calling is not available.",
    "Please leave your message after the tone.",
    "Your call has been forwarded to an automated voice messaging system.",
    "The subscriber you have called is not available.",
    "At the tone, please record your message.",
    "When you have finished recording, you may hang up or press one for more options.",
    "The wireless customer you are calling is not available at this time.",
]


def pick_lead(rng, label):
    """Milliseconds of line silence between the answer and the first sound."""
    r = rng.random()
    if label == "human":
        if r < 0.55:
            return rng.randint(100, 500)
        if r < 0.85:
            return rng.randint(500, 1000)
        return rng.randint(1000, 2000)
    if r < 0.10:
        return rng.randint(0, 60)
    if r < 0.94:
        return rng.randint(60, 900)
    return rng.randint(3200, 4500)


def pick_noise(rng):
    r = rng.random()
    if r < 0.4:
        return "none", 0
    return rng.choice(["white", "pink", "brown"]), rng.choice([25, 20, 15, 10])


def machine_sentences(rng, kind):
    if kind == "personal":
        n = rng.choice(NAMES)
        out = [rng.choice(PERSONAL_OPEN).format(n=n)]
        out += rng.sample(PERSONAL_BODY, rng.randint(1, 3))
    elif kind == "business":
        c = rng.choice(COMPANIES)
        out = [BUSINESS[0].format(c=c)] + rng.sample(BUSINESS[1:], rng.randint(1, 3))
    else:
        out = rng.sample(CARRIER, rng.randint(2, 4))
    return out


def build_spec(seed=SEED):
    """The clip list; a pure function of the seed."""
    rng = random.Random(seed)
    rows = []
    for i in range(N_HUMAN + N_MACHINE):
        label = "human" if i < N_HUMAN else "machine"
        voice = rng.choice(VOICES)
        speed = rng.randint(140, 200)
        pitch = rng.randint(25, 75)
        lead = pick_lead(rng, label)
        noise, snr = pick_noise(rng)
        gain = rng.randint(-18, 4)
        step = rng.choice([-6, 6]) if rng.random() < 0.1 else 0
        beep_hz = beep_len = 0
        if label == "human":
            first = rng.choice(HUMAN_FIRST)
            if rng.random() < 0.3:
                kind = "two_sentences"
                sentences = [first, rng.choice(HUMAN_SECOND)]
                pauses = [rng.randint(1000, 2200)]
            else:
                kind = "short_answer"
                sentences = [first]
                pauses = []
        else:
            kind = rng.choice(["personal", "personal", "business", "carrier"])
            sentences = machine_sentences(rng, kind)
            pauses = [rng.randint(120, 650) for _ in sentences[1:]]
            if kind == "carrier" and rng.random() < 0.35:
                kind = "carrier_sit"
            if rng.random() < 0.04:
                # A recorder with no greeting at all: just the beep.
                kind, sentences, pauses = "beep_only", [], []
            if kind == "beep_only" or rng.random() < 0.7:
                beep_hz = rng.randint(40, 200) * 10
                beep_len = rng.randint(250, 1000)
                pauses.append(rng.randint(150, 700))
        rows.append({
            "id": f"{label[0]}{i:03d}",
            "label": label,
            "split": "train" if rng.random() < 0.5 else "test",
            "kind": kind,
            "voice": voice,
            "speed": speed,
            "pitch": pitch,
            "lead_ms": lead,
            "pause_ms": ";".join(str(p) for p in pauses),
            "noise": noise,
            "snr_db": snr,
            "gain_db": gain,
            "gain_step_db": step,
            "beep_hz": beep_hz,
            "beep_len_ms": beep_len,
            "text": "|".join(sentences),
        })
    return rows


def spec_hash(rows):
    h = hashlib.sha256(VERSION.encode())
    for r in rows:
        h.update(repr([r[c] for c in SPEC_COLUMNS]).encode())
    return h.hexdigest()


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_pcm(path):
    with wave.open(path, "rb") as w:
        if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: not 8 kHz mono 16-bit")
        a = array.array("h")
        a.frombytes(w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        a.byteswap()
    return a


def write_pcm(path, samples):
    a = array.array("h", samples)
    if sys.byteorder == "big":
        a.byteswap()
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(a.tobytes())


def speech(cache, voice, speed, pitch, text):
    """espeak-ng -> sox: trimmed, telephone band, 8 kHz; cached per sentence."""
    key = hashlib.sha256(f"{voice}|{speed}|{pitch}|{text}".encode()).hexdigest()[:20]
    out = os.path.join(cache, key + ".wav")
    if not os.path.exists(out):
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            raw = os.path.join(tmp, "raw.wav")
            run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", raw, text])
            part = os.path.join(tmp, "part.wav")
            run(["sox", "-R", raw, "-r", str(RATE), "-c", "1", "-b", "16", part,
                 "silence", "1", "0.005", "-45d", "reverse", "silence", "1", "0.005", "-45d",
                 "reverse", "sinc", "300-3400", "rate", str(RATE)])
            os.replace(part, out)
    return read_pcm(out)


def tool_pcm(cache, name, args):
    """A sox-synthesised signal (noise bed, tone), cached by name."""
    out = os.path.join(cache, name + ".wav")
    if not os.path.exists(out):
        tmp = f"{out}.{threading.get_ident()}.part.wav"
        run(["sox", "-R", "-n", "-r", str(RATE), "-c", "1", "-b", "16", tmp] + args)
        os.replace(tmp, out)
    return read_pcm(out)


def active_rms(samples):
    """RMS over the louder frames only: an active speech level (cf. ITU-T P.56)."""
    frames = []
    for i in range(0, len(samples) - 159, 160):
        frames.append(sum(x * x for x in samples[i:i + 160]) / 160.0)
    if not frames:
        return 1.0
    peak = max(frames)
    loud = [f for f in frames if f > peak / 1000.0]
    return math.sqrt(sum(loud) / len(loud)) if loud else 1.0


def ms(n):
    return n * 1000 // RATE


def render(row, out_dir, cache):
    rng = random.Random(f"{SEED}:{row['id']}")
    sentences = [t for t in row["text"].split("|") if t]
    pauses = [int(p) for p in row["pause_ms"].split(";") if p]
    sig = [0.0] * (row["lead_ms"] * RATE // 1000)
    if row["kind"] == "carrier_sit":
        for hz, dur in ((914, 0.274), (1371, 0.274), (1777, 0.380)):
            tone = tool_pcm(cache, f"sit_{hz}", ["synth", str(dur), "sine", str(hz), "vol", "0.3"])
            sig.extend(float(x) for x in tone)
        sig.extend([0.0] * (RATE // 5))
    first_end = len(sig)
    speech_samples = array.array("h")
    for k, text in enumerate(sentences):
        pcm = speech(cache, row["voice"], row["speed"], row["pitch"], text)
        speech_samples.extend(pcm)
        sig.extend(float(x) for x in pcm)
        if k == 0:
            first_end = len(sig)
        if k < len(pauses):
            sig.extend([0.0] * (pauses[k] * RATE // 1000))
    speech_end = len(sig) - (pauses[-1] * RATE // 1000 if sentences and len(pauses) == len(sentences) else 0)
    # Active speech level; a greeting-less beep sits near -20 dBFS.
    level = active_rms(speech_samples) if speech_samples else 3000.0
    beep_end = 0
    if row["beep_hz"]:
        tone = tool_pcm(cache, f"beep_{row['beep_hz']}_{row['beep_len_ms']}",
                        ["synth", str(row["beep_len_ms"] / 1000.0), "sine", str(row["beep_hz"]),
                         "fade", "0.005", "0", "0.005"])
        # Beeps sit at about the greeting's level, give or take a few dB.
        tone_rms = active_rms(tone)
        g = level / tone_rms * 10 ** (rng.uniform(-6, 3) / 20.0)
        sig.extend(x * g for x in tone)
        beep_end = len(sig)
    tail = max(6 * RATE, len(sig) + 2 * RATE) - len(sig)
    sig.extend([0.0] * tail)
    n = len(sig)
    if row["noise"] != "none":
        bed = tool_pcm(cache, f"noise_{row['noise']}",
                       ["synth", "60", row["noise"] + "noise", "sinc", "300-3400"])
        off = rng.randint(0, len(bed) - n - 1)
        g = level / active_rms(bed) / 10 ** (row["snr_db"] / 20.0)
        for i in range(n):
            sig[i] += bed[off + i] * g
    else:
        # A quiet line still hisses: about -70 dBFS.
        for i in range(n):
            sig[i] += rng.gauss(0.0, 10.0)
    gain = 10 ** (row["gain_db"] / 20.0)
    step_at = rng.randint(n // 5, n // 2) if row["gain_step_db"] else n
    step = 10 ** (row["gain_step_db"] / 20.0)
    pcm = array.array("h", (
        max(-32768, min(32767, int(round(x * gain * (step if i >= step_at else 1.0)))))
        for i, x in enumerate(sig)))
    mixed = os.path.join(out_dir, row["id"] + ".mix.wav")
    write_pcm(mixed, pcm)
    final = os.path.join(out_dir, row["id"] + ".wav")
    # G.711 mu-law round trip, as the audio arrives over RTP.
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        ul = os.path.join(tmp, "x.wav")
        run(["sox", "-R", mixed, "-e", "u-law", ul])
        run(["sox", "-R", ul, "-e", "signed-integer", "-b", "16", final + ".part.wav"])
    os.replace(final + ".part.wav", final)
    os.remove(mixed)
    return {
        "first_speech_end_ms": ms(first_end),
        "speech_end_ms": ms(speech_end),
        "beep_end_ms": ms(beep_end) if beep_end else "",
        "duration_ms": ms(n),
    }


def write_csv(fh, rows, columns):
    w = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({c: r[c] for c in columns})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="output directory")
    ap.add_argument("--labels-only", action="store_true", help="print the label list")
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    rows = build_spec()
    if args.labels_only:
        write_csv(sys.stdout, rows, SPEC_COLUMNS)
        return 0
    if not args.out:
        ap.error("--out is required")
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            print(f"error: {tool} not found (apt-get install -y espeak-ng sox)", file=sys.stderr)
            return 2
    digest = spec_hash(rows)
    stamp = os.path.join(args.out, ".complete")
    if os.path.exists(stamp) and open(stamp).read().strip() == digest:
        return 0
    clips = os.path.join(args.out, "clips")
    cache = os.path.join(args.out, "cache")
    os.makedirs(clips, exist_ok=True)
    os.makedirs(cache, exist_ok=True)
    if os.path.exists(stamp):
        os.remove(stamp)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        measured = list(pool.map(lambda r: render(r, clips, cache), rows))
    for r, m in zip(rows, measured):
        r.update(m)
    buf = io.StringIO()
    write_csv(buf, rows, SPEC_COLUMNS + MEASURED_COLUMNS)
    with open(os.path.join(args.out, "labels.csv"), "w") as fh:
        fh.write(buf.getvalue())
    with open(stamp, "w") as fh:
        fh.write(digest + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
