#!/usr/bin/env bash
# Serve the demo database on 127.0.0.1 in the foreground (set-up is done by `make setup`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ODOO_SRC="${ODOO_SRC:-/opt/odoo}"
DB_NAME="${DB_NAME:-finance_sync_demo}"
HTTP_PORT="${HTTP_PORT:-8069}"
# Odoo re-executes itself with the interpreter found on PATH when it reloads (e.g. after a
# worker hit a time limit): put the venv first, or the reloaded server lacks its packages.
export PATH="$ROOT/.venv/bin:$PATH"
ODOO=("$ROOT/.venv/bin/python" "$ODOO_SRC/odoo-bin" -c "$ROOT/.build/odoo.conf" -d "$DB_NAME" --http-port "$HTTP_PORT")

if psql -lqtA | cut -d'|' -f1 | grep -qx "$DB_NAME"; then
    mode=(-u finance_sync)       # existing database: update the module, keep the data
else
    mode=(-i finance_sync --with-demo)
fi
cat <<MSG

  finance_sync on Odoo 19 -> http://127.0.0.1:$HTTP_PORT/odoo
  database: $DB_NAME   login: admin   password: admin
  (${mode[*]}; stop with Ctrl+C)

MSG
exec "${ODOO[@]}" "${mode[@]}"
