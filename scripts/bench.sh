#!/usr/bin/env bash
# Run bench/*.py inside Odoo on a scratch database with finance_sync installed (no demo data).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ODOO_SRC="${ODOO_SRC:-/opt/odoo}"
BENCH_DB="${BENCH_DB:-finance_sync_bench}"
ODOO=("$ROOT/.venv/bin/python" "$ODOO_SRC/odoo-bin" -c "$ROOT/.build/odoo-test.conf" -d "$BENCH_DB" --no-http)

if ! psql -lqtA | cut -d'|' -f1 | grep -qx "$BENCH_DB"; then
    "${ODOO[@]}" -i finance_sync --stop-after-init --log-level=warn
else
    "${ODOO[@]}" -u finance_sync --stop-after-init --log-level=warn
fi
for script in "$ROOT"/bench/*.py; do
    echo "== $(basename "$script")"
    "${ODOO[@]}" shell --log-level=warn < "$script"
done
