#!/usr/bin/env bash
# Prepare everything `make run` and `make test` need, skipping what is already done.
#
#   system packages -> PostgreSQL cluster + role -> Odoo 19 source -> .venv
#   -> Odoo's requirements -> the addon's requirements -> build dir + config
#
# Every step checks first and only acts when something is missing, so a second
# run finishes in a few seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ODOO_SRC="${ODOO_SRC:-/opt/odoo}"
ODOO_REPO="${ODOO_REPO:-https://github.com/odoo/odoo.git}"
ODOO_BRANCH="19.0"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$ROOT/.venv}"
BUILD="${BUILD:-$ROOT/.build}"
HTTP_PORT="${HTTP_PORT:-8069}"
TEST_HTTP_PORT="${TEST_HTTP_PORT:-8169}"
STAMPS="$BUILD/stamps"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] error:\033[0m %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- 1. system packages ------------------------------------------------------
system_packages() {
    # chromium: Odoo's browser tours (HttpCase.start_tour) skip silently without it.
    # prometheus: its promtool checks and unit-tests the alert rules of docs/ops.
    # rabbitmq-server: the broker transport's tests start RabbitMQ nodes of their own (tests/rabbit.py).
    local wanted=(postgresql libpq-dev build-essential git chromium prometheus rabbitmq-server)
    "$PYTHON" -c 'import ensurepip' 2>/dev/null || wanted+=(python3-venv)
    local missing=()
    for pkg in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        command -v apt-get >/dev/null || die "missing system packages (${missing[*]}) and no apt-get: install them by hand"
        say "installing system packages: ${missing[*]}"
        mkdir -p "$BUILD"
        # apt's progress goes to a log; it is shown only when something fails.
        if ! { as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
                as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"; } > "$BUILD/apt.log" 2>&1; then
            tail -30 "$BUILD/apt.log" >&2
            die "could not install ${missing[*]} (full log: .build/apt.log)"
        fi
    fi
}

# --- 2. PostgreSQL cluster and a superuser role for the current user ---------
postgres_ready() {
    if [ -n "${PGHOST:-}" ]; then
        # An external server was chosen: only check that it answers.
        pg_isready -q || die "PostgreSQL at PGHOST=$PGHOST does not answer"
        return
    fi
    if ! pg_isready -q 2>/dev/null; then
        local ver
        ver="$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1}')"
        if [ -z "$ver" ]; then
            ver="$(ls /usr/lib/postgresql | sort -V | tail -1)"
            say "creating PostgreSQL $ver cluster"
            as_root pg_createcluster "$ver" main
        fi
        say "starting PostgreSQL $ver cluster"
        as_root pg_ctlcluster "$ver" main start
        for _ in $(seq 1 30); do pg_isready -q && break; sleep 1; done
        pg_isready -q || die "PostgreSQL did not start (see /var/log/postgresql)"
    fi
    local me
    me="$(id -un)"
    if ! as_root su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$me'\"" | grep -q 1; then
        say "creating PostgreSQL role $me"
        as_root su postgres -c "createuser --superuser '$me'"
    fi
}

# --- 3. Odoo 19 source -------------------------------------------------------
is_odoo19() { grep -qs "^version_info = (19, 0," "$1/odoo/release.py"; }

odoo_source() {
    is_odoo19 "$ODOO_SRC" && return
    if [ -e "$ODOO_SRC" ] && [ -n "$(ls -A "$ODOO_SRC" 2>/dev/null)" ]; then
        die "ODOO_SRC=$ODOO_SRC is not empty and holds no Odoo 19 source; point ODOO_SRC at an Odoo 19.0 checkout"
    fi
    say "no Odoo 19 in $ODOO_SRC: cloning $ODOO_REPO (branch $ODOO_BRANCH, shallow)"
    mkdir -p "$(dirname "$ODOO_SRC")"
    # Give up quickly when the network refuses or stalls instead of hanging.
    if ! GIT_TERMINAL_PROMPT=0 GIT_HTTP_LOW_SPEED_LIMIT=1000 GIT_HTTP_LOW_SPEED_TIME=30 \
            timeout 1800 git clone --quiet --depth 1 --branch "$ODOO_BRANCH" "$ODOO_REPO" "$ODOO_SRC"; then
        rm -rf "$ODOO_SRC"
        die "could not clone Odoo $ODOO_BRANCH from $ODOO_REPO (no network access?).
  Put an Odoo 19.0 source tree at $ODOO_SRC, or set ODOO_SRC=/path/to/odoo-19, and run again."
    fi
    is_odoo19 "$ODOO_SRC" || die "the clone in $ODOO_SRC is not Odoo 19"
}

# --- 4. virtualenv and Python requirements -----------------------------------
python_env() {
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] <= (3, 12)))' \
            || die "$PYTHON is $("$PYTHON" --version 2>&1); Odoo 19 with this addon needs Python 3.10 to 3.12 (set PYTHON=...)"
        say "creating virtualenv $VENV"
        "$PYTHON" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip packaging
    fi
    local pyver
    pyver="$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
    mkdir -p "$STAMPS"

    # Odoo's requirements, markers evaluated as Python 3.12 (see scripts/odoo_requirements.py).
    local odoo_reqs="$BUILD/odoo-requirements.txt"
    "$VENV/bin/python" "$ROOT/scripts/odoo_requirements.py" "$ODOO_SRC/requirements.txt" > "$odoo_reqs.new"
    local key
    key="$(cat "$odoo_reqs.new" "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" | sha1sum | cut -c1-12)-$pyver"
    if [ ! -f "$STAMPS/requirements-$key" ]; then
        mv "$odoo_reqs.new" "$odoo_reqs"
        say "installing Odoo's and the addon's Python requirements"
        "$VENV/bin/python" -m pip install --quiet -r "$odoo_reqs" -r "$ROOT/requirements.txt" -r "$ROOT/requirements-dev.txt"
        rm -f "$STAMPS"/requirements-*
        touch "$STAMPS/requirements-$key"
    else
        rm -f "$odoo_reqs.new"
    fi

    # Make `import odoo` work in the venv (pytest-odoo needs it) without copying Odoo.
    local site
    site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$ODOO_SRC" > "$site/odoo-src.pth"
}

# --- 5. build dir: the addon under its technical name, and configs -----------
build_dir() {
    # The addon as Odoo sees it: a directory of links to the repository's entries, without the
    # venv, this build directory and the dot files. Odoo walks a module's whole tree (to export
    # its terms for translation, for one), and the repository holds a venv and a link back here.
    local addon="$BUILD/addons/finance_sync"
    [ -L "$addon" ] && rm -f "$addon"  # the earlier layout: one link to the whole repository
    mkdir -p "$addon"
    find "$addon" -maxdepth 1 -type l -delete
    for entry in "$ROOT"/*; do
        ln -s "$entry" "$addon/$(basename "$entry")"
    done
    write_conf "$BUILD/odoo.conf" "$HTTP_PORT" "${DB_NAME:-finance_sync_demo}"
    write_conf "$BUILD/odoo-test.conf" "$TEST_HTTP_PORT" "${TEST_DB:-finance_sync_test}"
}

# Only what the environment sets; otherwise libpq's defaults (local socket, current user).
db_options() {
    [ -n "${PGHOST:-}" ] && echo "db_host = $PGHOST"
    [ -n "${PGPORT:-}" ] && echo "db_port = $PGPORT"
    [ -n "${PGUSER:-}" ] && echo "db_user = $PGUSER"
    [ -n "${PGPASSWORD:-}" ] && echo "db_password = $PGPASSWORD"
    return 0
}

write_conf() {
    cat > "$1" <<CONF
[options]
addons_path = $ODOO_SRC/addons,$BUILD/addons
data_dir = $BUILD/data
db_name = $3
dbfilter = ^$3\$
list_db = False
http_interface = 127.0.0.1
http_port = $2
gevent_port = $(( $2 + 3 ))
$(db_options)

[finance_sync]
# Local development only: lets backends point at 127.0.0.1 test receivers. In its own section,
# which Odoo leaves to the add-on (it warns about unknown keys of [options] on every start).
allow_private_endpoints = True
CONF
}

system_packages
postgres_ready
odoo_source
python_env
build_dir
say "ready (Odoo: $ODOO_SRC, venv: $VENV)"
