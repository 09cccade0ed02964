"""How Odoo connects to platforms: addresses as typed (no control or white space characters, at
save and again when sending), one pooled connection per sending thread however requests stall,
a pacing written by two servers at once without an error, and the server setting of private
endpoints read without a warning."""

import configparser
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from datetime import timedelta

from werkzeug import Response

from odoo import SUPERUSER_ID, api, fields, release, sql_db
from odoo.exceptions import ValidationError
from odoo.tests import TransactionCase, tagged

from .. import const, utils
from ..engine.scheduler import Channel
from .common import FinanceSyncCase, captured_logs

ROOT = pathlib.Path(__file__).resolve().parent.parent
# A URL whose line break would start a header of its own, and others as dangerous to store.
UNSAFE_URLS = {
    "CR LF and a header": "https://platform.example/hook\r\nHost: 127.0.0.1",
    "a space inside": "https://platform.example/ho ok",
    "a trailing line feed": "https://platform.example/hook\n",
    "a leading tab": "\thttps://platform.example/hook",
    "an invisible character": "https://platform\u200b.example/hook",
    "a NUL": "https://platform.example/\x00",
}
UNSAFE_HOSTS = {
    "CR LF": "db.example.com\r\nhostaddr=127.0.0.1",
    "a space": "db.example.com sslmode=disable",
    "a trailing line feed": "db.example.com\n",
    "an invisible character": "db\u200b.example.com",
}


@tagged("post_install", "-at_install")
class TestAddressesAsTyped(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.admin = cls.make_user("fs_url_admin", "finance_sync.finance_sync_group_admin")

    def test_urls_and_hosts_with_control_or_space_characters_are_refused(self):
        Backend = self.env["finance.sync.backend"].with_user(self.admin)
        backend = self.backend.with_user(self.admin)
        url = self.backend.endpoint_url
        warehouse = Backend.create({"name": "BI", "transport": "warehouse", "warehouse_host": "db.example.com"})
        attempts = {f"url: {label}": (Backend, backend, {"endpoint_url": bad}) for label, bad in UNSAFE_URLS.items()}
        attempts.update(
            {
                f"host: {label}": (Backend, warehouse, {"transport": "warehouse", "warehouse_host": bad})
                for label, bad in UNSAFE_HOSTS.items()
            }
        )
        for label, (model, record, vals) in attempts.items():
            for how, operation in (
                ("create", lambda m=model, v=vals: m.create({"name": "Bad", **v})),
                ("write", lambda r=record, v=vals: r.write(v)),
            ):
                with (
                    self.subTest(label, how=how),
                    self.assertRaisesRegex(ValidationError, "control, invisible or white space character"),
                    self.env.cr.savepoint(),  # as a request: what failed is rolled back
                ):
                    operation()
                    self.env.flush_all()
                self.env.invalidate_all()
        self.assertEqual(self.backend.endpoint_url, url)
        self.assertEqual(warehouse.warehouse_host, "db.example.com")
        self.assertFalse(Backend.search([("name", "in", ("Bad", "Bad BI"))]))

    def test_a_url_stored_with_a_line_break_sends_nothing(self):
        """Stored before the check existed (written straight into the database here): the
        dispatcher checks the address again before sending, and sends nothing."""
        self.respond(200)
        invoice = self._create_invoice(post=True)
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE finance_sync_backend SET endpoint_url = %s WHERE id = %s",
            (self.receiver.url_for("/hook") + "\r\nX-Injected: 1", self.backend.id),
        )
        self.env.invalidate_all()
        self.dispatch()
        job = self.jobs_of(invoice)
        self.assertEqual(job.state, "failed")
        self.assertIn("U+000D", job.last_error)
        self.assertEqual(len(self.receiver.log), 0, "nothing left Odoo")


@tagged("post_install", "-at_install")
class TestConnectionPool(FinanceSyncCase):
    def test_stalled_requests_never_overflow_the_connection_pool(self):
        """A platform that answers after more than a second: requests that slow stop counting
        against the backend's concurrency, so more of them are open than it allows. Each still has
        a place in the pool when it comes back: none is dropped with a warning."""
        self.backend.max_concurrent = 2
        open_now, most_open = [0], [0]
        lock = threading.Lock()

        def slow(_request):
            with lock:
                open_now[0] += 1
                most_open[0] = max(most_open[0], open_now[0])
            time.sleep(1.4)
            with lock:
                open_now[0] -= 1
            return Response(json.dumps({"ok": True}), status=200, content_type="application/json")

        self.receiver.expect_request("/hook", method="POST").respond_with_handler(slow)
        invoices = [self.init_invoice("out_invoice", amounts=[12.10 + n], post=True) for n in range(6)]
        with self.assertNoLogs("urllib3.connectionpool", "WARNING"):
            self.dispatch()
        self.assertGreater(most_open[0], self.backend.max_concurrent, "stalled requests were open beside others")
        for invoice in invoices:
            self.assertEqual(self.jobs_of(invoice).state, "done")


@tagged("post_install", "-at_install")
class TestPacingByTwoServers(TransactionCase):
    """Two Odoo servers told 429 at once both write the backend's pacing: real transactions on
    their own connections, the backend committed for them (and deleted after)."""

    def setUp(self):
        super().setUp()
        self.db = self.env.cr.dbname
        with self.own_env() as env:
            backend = (
                env["finance.sync.backend"]
                .with_context(tracking_disable=True, mail_create_nolog=True)
                .create({"name": "Paced by two", "endpoint_url": "https://platform.example/hook"})
            )
            self.backend_id = backend.id
        self.addCleanup(self.delete_backend)

    def own_env(self):
        """A superuser environment on a cursor of its own, committed on exit."""
        test = self

        class Own:
            def __enter__(self):
                self.cr = sql_db.db_connect(test.db).cursor()
                return api.Environment(self.cr, SUPERUSER_ID, {})

            def __exit__(self, exc_type, *_exc):
                if exc_type is None:
                    self.cr.commit()
                self.cr.close()

        return Own()

    def delete_backend(self):
        with self.own_env() as env:
            env["finance.sync.backend"].browse(self.backend_id).unlink()

    def test_the_later_server_retries_quietly_in_its_next_transaction(self):
        now = fields.Datetime.now()
        first, second = now + timedelta(seconds=5), now + timedelta(seconds=9)
        with closing(sql_db.db_connect(self.db).cursor()) as cr_a, closing(sql_db.db_connect(self.db).cursor()) as cr_b:
            env_a, env_b = (api.Environment(cr, SUPERUSER_ID, {}) for cr in (cr_a, cr_b))
            backend_a = env_a["finance.sync.backend"].browse(self.backend_id)
            self.assertFalse(backend_a.paced_until)  # server A's snapshot starts here
            # Server B paces the backend and commits first.
            env_b["finance.sync.backend"].browse(self.backend_id)._pace(first)
            cr_b.commit()
            # Server A records its own 429 in the same round: no error logged, nothing raised, the
            # transaction still usable; the pacing is not written now.
            with captured_logs() as records:
                written = backend_a._pace(second)
                cr_a.execute("SELECT 1")
            errors = [r.getMessage() for r in records if r.levelname in ("ERROR", "CRITICAL")]
            self.assertEqual(errors, [], "nothing logged as an error")
            self.assertIs(written, False)
            # The dispatcher keeps it and shares it at a later round, on a fresh snapshot.
            channel = Channel(self.backend_id, 8, 10, 8, None, None, None, pace_to_share=second)
            env_a["finance.sync.dispatcher"]._share_pacing([channel])
            self.assertEqual(channel.pace_to_share, second, "kept for the next round")
            cr_a.commit()
            env_a["finance.sync.dispatcher"]._share_pacing([channel])
            cr_a.commit()
            self.assertIsNone(channel.pace_to_share)
        with self.own_env() as env:
            self.assertEqual(env["finance.sync.backend"].browse(self.backend_id).paced_until, second)


@tagged("post_install", "-at_install")
class TestServerConfiguration(TransactionCase):
    def test_the_generated_configuration_starts_odoo_without_warnings(self):
        """The configuration ``make setup`` writes (scripts/setup.sh, ``write_conf``) is read by
        Odoo without a warning about unknown options, and still allows private endpoints: the
        module reads its own section."""
        folder = pathlib.Path(tempfile.mkdtemp(prefix="finance_sync_conf_"))
        self.addCleanup(shutil.rmtree, folder)
        conf = folder / "odoo.conf"
        script = (
            'set -eu; source <(sed -n "/^db_options()/,/^}/p; /^write_conf()/,/^}/p" "$1"); '
            'write_conf "$2" 18999 finance_sync_conf_test'
        )
        odoo_src = pathlib.Path(release.__file__).resolve().parents[1]
        subprocess.run(
            ["bash", "-c", script, "bash", str(ROOT / "scripts" / "setup.sh"), str(conf)],
            check=True,
            env={"ODOO_SRC": str(odoo_src), "BUILD": str(folder), "PATH": "/usr/bin:/bin"},
        )
        read = subprocess.run(
            [
                sys.executable,
                "-c",
                "import logging, sys; logging.basicConfig(level=logging.WARNING);"
                "from odoo.tools import config;"
                "config.parse_config(['-c', sys.argv[1]], setup_logging=False);"
                "config._flush_log_and_warn_entries()",
                str(conf),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        self.assertNotIn("unknown option", read.stderr)
        parser = configparser.RawConfigParser()
        parser.read(conf)
        self.assertEqual(parser.get(const.CONFIG_SECTION, const.OPTION_ALLOW_PRIVATE), "True")
        self.assertFalse(parser.has_option("options", const.CONFIG_ALLOW_PRIVATE))
        # The configuration these tests run with was written the same way: private endpoints allowed.
        self.assertEqual(utils.server_options().get(const.OPTION_ALLOW_PRIVATE), "True")
        self.assertTrue(utils.allow_private_endpoints())
