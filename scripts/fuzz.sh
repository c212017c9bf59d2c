#!/usr/bin/env bash
# Fuzz the SIP message-entry path (omnivox_sip::fuzz_entry, the target
# fuzz/fuzz_targets/sip_entry.rs) with cargo-fuzz for a bounded time.
#
#   bash scripts/fuzz.sh                      # 60 s
#   FUZZ_SECONDS=600 bash scripts/fuzz.sh     # longer
#
# Environment:
#   FUZZ_SECONDS  how long to fuzz (libFuzzer -max_total_time); default 60.
#                 Build time comes on top.
#   FUZZ_TARGET   target under fuzz/fuzz_targets; default sip_entry.
#   FUZZ_CORPUS   where new corpus entries go; default a temp dir removed at
#                 exit. Point it at a directory of your own to keep a growing
#                 corpus between runs.
#
# Works on the stable toolchain: no sanitizer (`-s none`; the code under test
# forbids `unsafe`, and sanitizers need nightly), a dev build with debug
# assertions and overflow checks. cargo-fuzz is installed when missing. The
# build goes to fuzz/target (gitignored), never the shared target/.
#
# The seeds in crates/sip/fuzz-corpus are only read: libFuzzer writes new
# inputs to the first corpus directory, which is FUZZ_CORPUS.
#
# Exit status: 0 when nothing was found; 1 on a crash, a timeout or an
# out-of-memory input (the input is saved under fuzz/artifacts/<target>/ and
# its path printed with the command that replays it); anything else when the
# tools could not be installed or built.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
SECONDS_TO_FUZZ=${FUZZ_SECONDS:-60}
TARGET=${FUZZ_TARGET:-sip_entry}
SEEDS=crates/sip/fuzz-corpus
TARGET_DIR=fuzz/target
# Where cargo-fuzz has libFuzzer save failing inputs.
ARTIFACTS=fuzz/artifacts/$TARGET
# Shared by build and run, so that the run does not rebuild.
FUZZ_FLAGS=(--dev --sanitizer none --target-dir "$TARGET_DIR")

step() {
    printf '\n==> %s\n' "$*" >&2
}

# (libFuzzer reads -max_total_time=0 as "forever".)
case "$SECONDS_TO_FUZZ" in
'' | *[!0-9]* | 0 | 0*)
    echo "error: FUZZ_SECONDS must be a positive whole number of seconds, not '$SECONDS_TO_FUZZ'" >&2
    exit 2
    ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    step "installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

step "cargo fuzz build $TARGET"
cargo fuzz build "${FUZZ_FLAGS[@]}" "$TARGET"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/omnivox-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
corpus=${FUZZ_CORPUS:-$scratch/corpus}
mkdir -p "$corpus" "$ARTIFACTS"
# Artifacts older than this marker are from earlier runs.
touch "$scratch/started"

step "fuzzing $TARGET for ${SECONDS_TO_FUZZ}s (new corpus entries: $corpus; seeds: $SEEDS)"
set +e
# The panic stack of a crash, without cargo-fuzz's own (anyhow) backtrace.
RUST_BACKTRACE=1 RUST_LIB_BACKTRACE=0 cargo fuzz run "${FUZZ_FLAGS[@]}" "$TARGET" "$corpus" "$SEEDS" -- \
    -max_total_time="$SECONDS_TO_FUZZ" \
    -max_len=65536 \
    -timeout=30 \
    -print_final_stats=1
rc=$?
set -e

mapfile -t found < <(find "$ARTIFACTS" -maxdepth 1 -type f -newer "$scratch/started" | sort)
if [ "${#found[@]}" -gt 0 ]; then
    printf '\n==> FUZZING FOUND %d FAILING INPUT(S) in %s:\n' "${#found[@]}" "$TARGET" >&2
    for f in "${found[@]}"; do
        printf '    %s\n' "$f" >&2
    done
    printf '    replay: cargo fuzz run %s %s %s\n' "${FUZZ_FLAGS[*]}" "$TARGET" "${found[0]}" >&2
    printf '    (the panic message and stack are in the output above)\n' >&2
    exit 1
fi
if [ "$rc" -ne 0 ]; then
    printf '\n==> cargo fuzz run failed (exit %s) without saving an input\n' "$rc" >&2
    exit "$rc"
fi
printf '\n==> no crash in %ss of fuzzing %s\n' "$SECONDS_TO_FUZZ" "$TARGET" >&2
