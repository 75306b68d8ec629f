#!/usr/bin/env bash
# Every test on SQLite and on PostgreSQL, both passes at once (`make test`).
#
# Most of either pass waits on servers, sockets and browsers rather than computing, so on a
# two-core machine the two together take little longer than the slower alone. The PostgreSQL
# pass runs in the background into a log that is printed when it ends, so neither output is
# interleaved with the other. Tests that run on their own PostgreSQL and Redis whatever the
# backend (`own_servers`) run once, in the PostgreSQL pass. Arguments go to both pytest runs.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}

log=$(mktemp -t livecommerce-test-postgresql.XXXXXX.log)
LIVECOMMERCE_TEST_BACKEND=postgresql "$BIN/pytest" -p no:cacheprovider "$@" >"$log" 2>&1 &
pg=$!
trap 'kill "$pg" 2>/dev/null; exit 130' INT TERM

echo "=== SQLite pass (the PostgreSQL pass runs meanwhile; its output follows) ==="
LIVECOMMERCE_TEST_BACKEND=sqlite "$BIN/pytest" -m "not own_servers" "$@"
sqlite_rc=$?

wait "$pg"
pg_rc=$?
echo
echo "=== PostgreSQL pass ==="
cat "$log"
rm -f "$log"

echo
echo "SQLite pass: exit ${sqlite_rc}; PostgreSQL pass: exit ${pg_rc}"
if [ "$sqlite_rc" -ne 0 ] || [ "$pg_rc" -ne 0 ]; then
  exit 1
fi
