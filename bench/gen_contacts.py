#!/usr/bin/env python3
"""Generate a realistic contact CSV for the import benchmark (stdlib only).

    python3 bench/gen_contacts.py ROWS OUT.csv [--seed N]

Deterministic: the same ROWS and seed give the same bytes. The header is

    First Name,Last Name,Phone,Mobile,E-mail,Zip,Signup Date,Tier,VIP

which the server's suggested mapping maps without help once the tenant has
the custom fields `signup_date` (date), `tier` (choice Gold/Silver/Bronze)
and `vip` (boolean).

What the rows hold:
  * Phone: ~95% valid US numbers in mixed shapes ("(415) 555-0142",
    "415.555.0142", "+1 415 555 0142", "4155550142", ...), from real area
    codes with exchanges 200-999 (no N11); ~3% international (London
    +44 20 7xxx xxxx / 8xxx xxxx, Berlin +49 30 xxxxxxxx); ~2% invalid
    (no area code, exchange starting with 0/1, too short or long, "n/a").
    An invalid row without a mobile is rejected (`no_phone`); one with a
    mobile is accepted on it, with an `invalid_phone` warning.
  * Every row's Phone is a different number (derived from the row index
    through a bijection), so deduplication by primary phone keeps them all.
  * Mobile on ~35% of rows (random numbers; may repeat across rows).
  * Some accented names (José, Siobhán, Müller, ...) and a quoted
    "Smith, Jr."; e-mail on ~80% of rows; dates as YYYY-MM-DD or
    MM/DD/YYYY; tiers in mixed case; VIP as yes/no/Y/N.
Lines end in CRLF, as spreadsheet exports do.
"""

import argparse
import math
import random

HEADER = "First Name,Last Name,Phone,Mobile,E-mail,Zip,Signup Date,Tier,VIP"

FIRST = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
    "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
    "Thomas", "Sarah", "Charles", "Karen", "Daniel", "Nancy", "Matthew", "Lisa",
    "José", "María", "Zoë", "François", "Chloé", "Jürgen", "Wei", "Aisha",
    "Oluwaseun", "Siobhán", "Renée", "Björn", "Ana", "Luis", "Priya", "Mohammed",
]
LAST = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson",
    "White", "Harris", "Müller", "O'Brien", "Nguyen", "Smith, Jr.", "Gómez",
    "Kowalski", "Brontë", "Patel", "Kim", "Núñez", "Søndergaard", "Dubois", "Chen",
]
# Real US area codes (all in libphonenumber's US metadata).
AREAS = [
    201, 202, 203, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218,
    219, 224, 225, 228, 229, 231, 234, 239, 240, 248, 251, 252, 253, 254, 256, 260,
    262, 267, 269, 270, 276, 281, 301, 302, 303, 304, 305, 307, 308, 309, 310, 312,
    313, 314, 315, 316, 317, 318, 319, 320, 321, 323, 330, 334, 336, 337, 339, 347,
    352, 360, 361, 386, 401, 402, 404, 405, 406, 407, 408, 409, 410, 412, 413, 414,
    415, 417, 419, 423, 425, 432, 434, 435, 440, 443, 469, 478, 479, 480, 484, 501,
    502, 503, 504, 505,
]
# Exchanges NXX: 200-999 without the N11 service codes.
EXCHANGES = [x for x in range(200, 1000) if x % 100 != 11]
SPACE = len(AREAS) * len(EXCHANGES) * 10_000
# Multiplier of the row-index bijection (coprime with SPACE).
MULT = 2_654_435_761
assert math.gcd(MULT, SPACE) == 1

DOMAINS = ["example.com", "example.org", "mail.example.net", "example.co.uk"]
TIERS = ["Gold", "Silver", "Bronze", "gold", "SILVER", "bronze", ""]
VIPS = ["yes", "no", "no", "no", "Yes", "No", "Y", "N", ""]
ASCII_FOLD = str.maketrans({
    "á": "a", "à": "a", "ä": "a", "é": "e", "ë": "e", "è": "e", "í": "i", "ï": "i",
    "ó": "o", "ö": "o", "ø": "o", "ú": "u", "ü": "u", "ñ": "n", "ç": "c", "'": "",
    " ": "", ",": "", ".": "",
})


def us_digits(x):
    """(area, exchange, line) for x in [0, SPACE)."""
    x, area = divmod(x, len(AREAS))
    line, exch = divmod(x, len(EXCHANGES))
    return AREAS[area], EXCHANGES[exch], line


def us_format(area, exch, line, shape):
    if shape < 30:
        return f"({area}) {exch}-{line:04d}"
    if shape < 50:
        return f"{area}.{exch}.{line:04d}"
    if shape < 65:
        return f"+1 {area} {exch} {line:04d}"
    if shape < 80:
        return f"{area}{exch}{line:04d}"
    if shape < 95:
        return f"{area}-{exch}-{line:04d}"
    return f"1-{area}-{exch}-{line:04d}"


def international(i, rng):
    """A valid non-US number, unique per row index i (< 10**7)."""
    kind = rng.randrange(3)
    if kind == 0:
        return f"+44 20 7946 {i % 10_000:04d}" if i < 10_000 else (
            f"+44 20 7{(i // 10_000) % 1000:03d} {i % 10_000:04d}")
    if kind == 1:
        return f"+44 20 8{(i // 10_000) % 1000:03d} {i % 10_000:04d}"
    return f"+49 30 {2 + (i // 1_000_000) % 8}{i % 1_000_000:06d}{rng.randrange(10)}"


def invalid(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return f"{rng.randrange(200, 1000)}-{rng.randrange(10_000):04d}"  # no area code
    if kind == 1:
        return f"({rng.choice(AREAS)}) {rng.randrange(0, 200):03d}-{rng.randrange(10_000):04d}"
    if kind == 2:
        return str(rng.randrange(10_000, 99_999))
    if kind == 3:
        return "n/a"
    if kind == 4:
        return f"+1 {rng.choice(AREAS)} {rng.randrange(200, 1000)} {rng.randrange(1000):03d}"
    return f"({rng.choice(AREAS)}) {rng.randrange(200, 1000)}-{rng.randrange(10_000):04d}5"


def csv_cell(s):
    if any(c in s for c in ',"\r\n'):
        return '"' + s.replace('"', '""') + '"'
    return s


def generate(rows, out, seed=20240601):
    rng = random.Random(seed)
    r = rng.random
    rr = rng.randrange
    offset = rr(SPACE)
    # (CSV cell, ASCII form for the e-mail address)
    firsts = [(csv_cell(n), n.lower().translate(ASCII_FOLD)) for n in FIRST]
    lasts = [(csv_cell(n), n.lower().translate(ASCII_FOLD)) for n in LAST]
    buf = [HEADER]
    with open(out, "w", encoding="utf-8", newline="") as f:
        for i in range(rows):
            first_cell, first_ascii = firsts[rr(len(firsts))]
            last_cell, last_ascii = lasts[rr(len(lasts))]
            kind = r()
            if kind < 0.95:
                area, exch, line = us_digits((i * MULT + offset) % SPACE)
                phone = us_format(area, exch, line, rr(100))
            elif kind < 0.98:
                phone = international(i, rng)
            else:
                phone = invalid(rng)
            mobile = us_format(*us_digits(rr(SPACE)), rr(100)) if r() < 0.35 else ""
            email = (f"{first_ascii}.{last_ascii}{i}@{DOMAINS[rr(len(DOMAINS))]}"
                     if r() < 0.8 else "")
            zip_code = f"{rr(1000, 99_999):05d}"
            d = r()
            if d < 0.05:
                date = ""
            elif d < 0.5:
                date = f"{rr(2015, 2025)}-{rr(1, 13):02d}-{rr(1, 29):02d}"
            else:
                date = f"{rr(1, 13):02d}/{rr(1, 29):02d}/{rr(2015, 2025)}"
            buf.append(
                f"{first_cell},{last_cell},{phone},{mobile},{email},{zip_code},{date},"
                f"{TIERS[rr(len(TIERS))]},{VIPS[rr(len(VIPS))]}"
            )
            if len(buf) >= 10_000:
                f.write("\r\n".join(buf) + "\r\n")
                buf.clear()
        if buf:
            f.write("\r\n".join(buf) + "\r\n")


def main():
    ap = argparse.ArgumentParser(description="Generate the import benchmark's contact CSV.")
    ap.add_argument("rows", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=20240601)
    a = ap.parse_args()
    if not 0 <= a.rows <= SPACE:
        ap.error(f"rows must be between 0 and {SPACE}")
    generate(a.rows, a.out, a.seed)


if __name__ == "__main__":
    main()
