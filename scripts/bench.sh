#!/usr/bin/env bash
# Run bench/bench_*.py inside Odoo on a scratch database with finance_sync installed (no demo data).
# The other bench/*.py files are helpers the benchmarks start in processes of their own.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ODOO_SRC="${ODOO_SRC:-/opt/odoo}"
BENCH_DB="${BENCH_DB:-finance_sync_bench}"
# Odoo's accounting without this module: the reference of the posting overhead.
export BENCH_BARE_DB="${BENCH_BARE_DB:-finance_sync_bench_bare}"
PY="$ROOT/.venv/bin/python"
OPTS=(-c "$ROOT/.build/odoo-test.conf" -d "$BENCH_DB" --no-http --log-level=warn)

if ! psql -lqtA | cut -d'|' -f1 | grep -qx "$BENCH_DB"; then
    "$PY" "$ODOO_SRC/odoo-bin" "${OPTS[@]}" -i finance_sync --stop-after-init
else
    "$PY" "$ODOO_SRC/odoo-bin" "${OPTS[@]}" -u finance_sync --stop-after-init
fi
if ! psql -lqtA | cut -d'|' -f1 | grep -qx "$BENCH_BARE_DB"; then
    "$PY" "$ODOO_SRC/odoo-bin" -c "$ROOT/.build/odoo-test.conf" -d "$BENCH_BARE_DB" --no-http --log-level=warn \
        -i account --stop-after-init
fi
psql -q -d "$BENCH_BARE_DB" -c "VACUUM ANALYZE"
# BENCH_SCRIPT=outbound (warehouse, feeds) runs only that file, for a quicker look while developing.
for script in "$ROOT"/bench/bench_${BENCH_SCRIPT:-*}.py; do
    # Every file rolls back or deletes its data (the backlog section a million jobs): reclaim the
    # dead rows and refresh the planner's statistics before each, or the next file measures
    # PostgreSQL's bloat and an autovacuum running beside it instead of the code.
    psql -q -d "$BENCH_DB" -c "VACUUM ANALYZE"
    echo "== $(basename "$script")"
    "$PY" "$ODOO_SRC/odoo-bin" shell "${OPTS[@]}" < "$script"
done
