#!/usr/bin/env bash
# Install finance_sync into a fresh test database, then run its tests with pytest-odoo.
# Extra arguments are passed to pytest (make test ARGS='-k name').
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ODOO_SRC="${ODOO_SRC:-/opt/odoo}"
TEST_DB="${TEST_DB:-finance_sync_test}"
CONF="$ROOT/.build/odoo-test.conf"
ADDON="$ROOT/.build/addons/finance_sync"

# The test database also has Odoo's Sales app (order.create creates sales orders); a copy taken
# before Sales was added, with finance_sync alone, proves that the module works and refuses
# order events without it (tests/test_inbound_orders.py runs there in a subprocess).
NO_SALE_DB="${TEST_DB}_without_sale"
export FINANCE_SYNC_TEST_DB_WITHOUT_SALE="$NO_SALE_DB"
ODOO_BASE=("$ROOT/.venv/bin/python" "$ODOO_SRC/odoo-bin" -c "$CONF" --stop-after-init --log-level=warn)
ODOO=("${ODOO_BASE[@]}" -d "$TEST_DB")
has_db() { psql -lqtA | cut -d'|' -f1 | grep -qx "$1"; }
if [ -n "${REUSE_DB:-}" ] && has_db "$TEST_DB"; then
    # Faster local loop (REUSE_DB=1): update the module in the existing test databases.
    echo "[test] reusing database $TEST_DB, updating finance_sync"
    "${ODOO[@]}" -u finance_sync
    if has_db "$NO_SALE_DB"; then
        "${ODOO_BASE[@]}" -d "$NO_SALE_DB" -u finance_sync
    else
        "${ODOO_BASE[@]}" -d "$NO_SALE_DB" -i finance_sync
    fi
else
    echo "[test] fresh database $TEST_DB with finance_sync installed, then Sales ($NO_SALE_DB: without Sales)"
    dropdb --if-exists --force "$TEST_DB"
    dropdb --if-exists --force "$NO_SALE_DB"
    "${ODOO[@]}" -i finance_sync
    createdb -T "$TEST_DB" "$NO_SALE_DB"
    "${ODOO[@]}" -i sale
fi
for db in "$TEST_DB" "$NO_SALE_DB"; do
    state="$(psql -d "$db" -tAc "SELECT state FROM ir_module_module WHERE name = 'finance_sync'")"
    [ "$state" = "installed" ] || { echo "[test] finance_sync did not install in $db (state: ${state:-none})" >&2; exit 1; }
done
state="$(psql -d "$TEST_DB" -tAc "SELECT state FROM ir_module_module WHERE name = 'sale'")"
[ "$state" = "installed" ] || { echo "[test] sale did not install (state: ${state:-none})" >&2; exit 1; }
# One company with its chart of accounts, committed once, from which every test class starts
# (tests/common.py, SHARED_COMPANY) instead of loading a chart of its own.
echo "from odoo.addons.finance_sync.tests.common import prepare_shared_company; prepare_shared_company(env)" \
    | "$ROOT/.venv/bin/python" "$ODOO_SRC/odoo-bin" shell -c "$CONF" -d "$TEST_DB" --no-http --log-level=warn >/dev/null

cd "$ADDON"
# Test paths given in ARGS are taken under the addon's technical name (tests/... ->
# .build/addons/finance_sync/tests/...) so that pytest-odoo imports them as odoo.addons.finance_sync.
args=() paths=()
for arg in "$@"; do
    case "$arg" in
        tests|tests/*) paths+=("$ADDON/$arg") ;;
        *) args+=("$arg") ;;
    esac
done
# The whole suite runs in TEST_WORKERS processes (default 2: pytest-xdist, a file's tests in one
# process; pytest-odoo gives each process its own copy of the test database and HTTP port); a
# part given in ARGS runs in this process alone unless TEST_WORKERS says otherwise.
if [ ${#paths[@]} -gt 0 ]; then
    workers="${TEST_WORKERS:-0}"
else
    paths=("$ADDON/tests")
    workers="${TEST_WORKERS:-2}"
fi
[ "$workers" = 0 ] || args=(-n "$workers" --dist loadfile ${args[@]+"${args[@]}"})
# --odoo-http: serve HTTP so HttpCase tests and browser tours run instead of skipping.
# -rs: every skipped test is listed with its reason in the summary.
# -p pytest_odoo_database: scripts/pytest_odoo_database.py, the database name as Odoo keeps it.
export PYTHONPATH="$ROOT/scripts${PYTHONPATH:+:$PYTHONPATH}"
exec "$ROOT/.venv/bin/python" -m pytest "${paths[@]}" -p pytest_odoo_database \
    --odoo-config="$CONF" --odoo-database="$TEST_DB" --odoo-http -rs ${args[@]+"${args[@]}"}
