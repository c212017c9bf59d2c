#!/usr/bin/env bash
# Omnivox test suite: formatting, lints, then the workspace tests against
# SQLite and (when OMNIVOX_TEST_PG is set) PostgreSQL.
#
#   bash scripts/test.sh
#
# Environment:
#   OMNIVOX_TEST_PG    postgres:// URL of a scratch database; enables the
#                      PostgreSQL run (each test uses its own ovx_t_* schema).
#   OMNIVOX_TEST_NATS  passed through untouched to the tests that want NATS.
#
# Debug builds only, in the default shared target/ directory.
set -euo pipefail
cd "$(dirname "$0")/.."

CURRENT_STEP=""

# Announce a step on stderr (stdout is left to cargo).
step() {
    CURRENT_STEP="$*"
    printf '\n==> %s\n' "$*" >&2
}

# On failure, say which step broke.
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ] && [ -n "$CURRENT_STEP" ]; then
        printf '\n==> FAILED (exit %s): %s\n' "$rc" "$CURRENT_STEP" >&2
    fi
}
trap on_exit EXIT

# need_apt PKG CMD: install Debian package PKG when command CMD is missing.
# Runs `apt-get update` at most once per invocation; never reads stdin.
APT_UPDATED=0
need_apt() {
    local pkg=$1 cmd=$2
    command -v "$cmd" >/dev/null 2>&1 && return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo -n)
        else
            echo "error: '$cmd' is missing; install the '$pkg' package" >&2
            return 1
        fi
    fi
    printf '==> installing %s (for %s)\n' "$pkg" "$cmd" >&2
    if [ "$APT_UPDATED" -eq 0 ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
        APT_UPDATED=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" </dev/null
}

# need_component SUBCOMMAND COMPONENT: `cargo fmt` / `cargo clippy` come
# from rustup components, not from cargo itself.
need_component() {
    local sub=$1 component=$2
    cargo "$sub" --version >/dev/null 2>&1 && return 0
    command -v rustup >/dev/null 2>&1 || return 0 # let cargo report it
    printf '==> installing rustup component %s\n' "$component" >&2
    rustup component add "$component"
}

need_component fmt rustfmt
need_component clippy clippy

# Real SIP peers for the telephony tests; with this set, a missing peer
# fails those tests instead of skipping them.
need_apt sip-tester sipp
need_apt baresip baresip
# Fakes the wall clock of the real binary in the campaign crash test.
need_apt faketime faketime
export OMNIVOX_REQUIRE_SIP_PEERS=1

# Speech synthesis and audio tools for the answering-machine corpus
# (scripts/amd-corpus); with this set, the corpus test fails instead of
# skipping when they are missing.
need_apt espeak-ng espeak-ng
need_apt sox sox
export OMNIVOX_REQUIRE_AUDIO_TOOLS=1

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test --workspace --locked (OMNIVOX_TEST_BACKEND=sqlite)"
OMNIVOX_TEST_BACKEND=sqlite cargo test --workspace --locked

step "fuzzing the SIP entry path (scripts/fuzz.sh, ${FUZZ_SECONDS:-60}s)"
bash scripts/fuzz.sh

if [ -n "${OMNIVOX_TEST_PG:-}" ]; then
    need_apt postgresql-client psql

    # Tests create one schema per test (ovx_t_*); drop any left behind by
    # earlier, interrupted runs. COMMIT after each drop keeps the lock count
    # per transaction small when many schemas pile up (needs PostgreSQL 11+).
    # Note: this would also drop schemas of a concurrently running suite
    # that uses the same database.
    step "dropping leftover ovx_t_* schemas"
    psql "$OMNIVOX_TEST_PG" -X -q -v ON_ERROR_STOP=1 -f - <<'SQL'
DO $$
DECLARE
    s text;
    n int := 0;
BEGIN
    -- Hush the per-object "drop cascades to ..." notices.
    PERFORM set_config('client_min_messages', 'warning', false);
    FOR s IN
        SELECT nspname FROM pg_namespace
        WHERE left(nspname, 6) = 'ovx_t_'
        ORDER BY nspname
    LOOP
        EXECUTE format('DROP SCHEMA %I CASCADE', s);
        COMMIT;
        n := n + 1;
    END LOOP;
    PERFORM set_config('client_min_messages', 'notice', false);
    RAISE NOTICE 'dropped % leftover test schema(s)', n;
END
$$;
SQL

    # Only the crates that touch the database run again; the pure crates
    # and the SIP layer do not depend on the backend.
    step "cargo test (store, api, server) --locked (OMNIVOX_TEST_BACKEND=postgres)"
    OMNIVOX_TEST_BACKEND=postgres cargo test --locked -p omnivox-store -p omnivox-api -p omnivox
else
    printf '\n==> PostgreSQL tests skipped: OMNIVOX_TEST_PG is not set (e.g. OMNIVOX_TEST_PG=postgres://postgres@127.0.0.1:5432/test)\n' >&2
fi

CURRENT_STEP=""
printf '\n==> all test steps passed\n' >&2
