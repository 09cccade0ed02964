"""Real Odoo servers on the test database, for tests of what only Odoo's own cron runner shows
(time limits, several servers, a worker killed mid-run), and a receiver that records what a
platform would see.

The servers are separate ``odoo-bin`` processes started with the test configuration: they see
only committed data, so these tests commit what they create and remove it afterwards.
"""
# These tests need rows other connections see: they commit, and clean up after.
# pylint: disable=invalid-commit

import contextlib
import hashlib
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from pytest_httpserver import HTTPServer
from werkzeug import Response

import odoo.release
from odoo import SUPERUSER_ID, api, sql_db
from odoo.tools import config

ODOO_BIN = pathlib.Path(odoo.release.__file__).resolve().parent.parent / "odoo-bin"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OdooServer:
    """One ``odoo-bin`` server process serving ``db`` (cron threads or prefork workers)."""

    def __init__(self, db, *options):
        self.db = db
        self.options = options
        self.log = tempfile.NamedTemporaryFile(prefix="finance_sync_server_", suffix=".log", delete=False)  # noqa: SIM115
        self.process = None
        self.port = None

    def start(self):
        self.port = port = free_port()
        command = [
            sys.executable,
            str(ODOO_BIN),
            "-c",
            config["config"],
            "-d",
            self.db,
            "--db-filter",
            f"^{self.db}$",
            "--http-interface",
            "127.0.0.1",
            "--http-port",
            str(port),
            "--gevent-port",
            str(free_port()),
            "--log-level",
            "info",
            *self.options,
        ]
        env = dict(os.environ, PATH=f"{pathlib.Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # serving HTTP: the registry is loaded, crons start next
            if self.process.poll() is not None:
                raise RuntimeError(f"Odoo server exited early:\n{self.output()[-3000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                time.sleep(1)
                return self
            time.sleep(0.2)
        raise RuntimeError(f"Odoo server did not start:\n{self.output()[-3000:]}")

    def kill(self):
        """SIGKILL the server and its workers: nothing it held is released cleanly."""
        with contextlib.suppress(ProcessLookupError):
            for child in self._children():
                os.kill(child, signal.SIGKILL)
            self.process.kill()
        self.process.wait(10)

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self):
        return pathlib.Path(self.log.name).read_text(errors="replace")

    def _children(self):
        with contextlib.suppress(OSError):
            return [
                int(pid)
                for pid in pathlib.Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
                .read_text()
                .split()
            ]
        return []


def wake_dispatchers(db):
    """Make the dispatcher crons of ``db`` ready and wake the servers' cron threads and workers
    (what a posting's commit does)."""
    with committed_env(db) as env:
        env["finance.sync.job"]._trigger_dispatch()


@contextlib.contextmanager
def committed_env(db):
    """A superuser environment on its own cursor, committed on exit."""
    with contextlib.closing(sql_db.db_connect(db).cursor()) as cr:
        yield api.Environment(cr, SUPERUSER_ID, {})
        cr.commit()


class Recorder:
    """A receiver on 127.0.0.1 that stands in for the platform: every request is recorded with
    its arrival time, event id and body digest; ``answer(request, seen)`` decides the reply:
    ``(status, headers, stall)``, or ``(status, headers, stall, body)`` to say more than ``{}``."""

    def __init__(self, answer=None):
        self.server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
        self.requests = []  # (monotonic time, path, webhook-id, sha256 of body, parsed body)
        self.lock = threading.Lock()
        self.answer = answer or (lambda request, seen: (200, {}, None))
        self.server.expect_request(re.compile("^/"), method="POST").respond_with_handler(self._handle)

    def _handle(self, request):
        raw = request.get_data()
        event_id = request.headers.get("webhook-id")
        with self.lock:
            seen = sum(1 for entry in self.requests if entry[2] == event_id)
            self.requests.append(
                (time.monotonic(), request.path, event_id, hashlib.sha256(raw).hexdigest(), json.loads(raw))
            )
        status, headers, stall, *body = self.answer(request, seen)
        if stall:
            time.sleep(stall)
        return Response(body[0] if body else "{}", status=status, headers=headers, content_type="application/json")

    def url(self, path="/"):
        return self.server.url_for(path)

    def count(self):
        with self.lock:
            return len(self.requests)

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *exc):
        self.server.stop()
