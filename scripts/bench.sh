#!/usr/bin/env bash
# Run bench/bench_*.py inside Odoo on a scratch database with finance_sync installed (no demo data).
# The other bench/*.py files are helpers the benchmarks start in processes of their own.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ODOO_SRC="${ODOO_SRC:-/opt/odoo}"
BENCH_DB="${BENCH_DB:-finance_sync_bench}"
PY="$ROOT/.venv/bin/python"
OPTS=(-c "$ROOT/.build/odoo-test.conf" -d "$BENCH_DB" --no-http --log-level=warn)

if ! psql -lqtA | cut -d'|' -f1 | grep -qx "$BENCH_DB"; then
    "$PY" "$ODOO_SRC/odoo-bin" "${OPTS[@]}" -i finance_sync --stop-after-init
else
    "$PY" "$ODOO_SRC/odoo-bin" "${OPTS[@]}" -u finance_sync --stop-after-init
fi
# Every run rolls back or deletes its data: reclaim the dead rows and refresh the planner's
# statistics, or later runs measure PostgreSQL's bloat instead of the code.
psql -q -d "$BENCH_DB" -c "VACUUM ANALYZE"
for script in "$ROOT"/bench/bench_*.py; do
    echo "== $(basename "$script")"
    "$PY" "$ODOO_SRC/odoo-bin" shell "${OPTS[@]}" < "$script"
done
