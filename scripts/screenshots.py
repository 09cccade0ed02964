"""Take the screenshots of docs/screens/ and of the Apps page (make screens).

A scratch database with demo data lives through the story the demo tells (demo/*.xml, played by
models/finance_sync_demo.py): an administrator connects a first platform in the browser (on an
empty dashboard: the demo's connections are set aside for those pictures); then the demo's
connections are back: customer invoices went to a ledger platform and to a data warehouse that
has no code yet for one customer (that invoice is held) and lacks one November invoice in its
reconciliation, vendor bills to a treasury platform that stayed busy until Odoo gave up,
payments to a payments hub where nothing answers, a billing platform is paused and an expense
platform not active yet. A real Odoo server serves that database (without crons: nothing moves
between two pictures) and a headless Chromium, driven over the DevTools protocol, takes each
picture at 1440x900 and, where a phone matters, at 390x844. A receiver on 127.0.0.1 stands for
the first connection's platform.

Run it with the repository's virtualenv (make screens): about three minutes, half of them to
install the database. SCREENS_DB names the scratch database (dropped first, kept afterwards so
that the story can be looked at with make run DB_NAME=...); SCREENS_REUSE=1 takes the pictures
again in the database of an earlier run, without installing it again.
"""

import base64
import contextlib
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta

import requests
import websocket
from PIL import Image

from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import Registry
from odoo.tools import config

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONF = ROOT / ".build" / "odoo.conf"
DB = os.environ.get("SCREENS_DB", "finance_sync_screens")
SCREENS = ROOT / "docs" / "screens"
DESCRIPTION = ROOT / "static" / "description"
DESKTOP, PHONE = (1440, 900), (390, 844)


def say(text):
    print(f"[screens] {text}", flush=True)


# === THE DATABASE === #


def install(odoo_bin):
    say(f"installing finance_sync with demo data into a fresh database {DB}")
    subprocess.run(["dropdb", "--if-exists", "--force", DB], check=True)
    odoo = [sys.executable, str(odoo_bin), "-c", str(CONF), "-d", DB, "--db-filter", f"^{DB}$"]
    subprocess.run([*odoo, "-i", "finance_sync", "--with-demo", "--stop-after-init", "--log-level=warn"], check=True)


@contextlib.contextmanager
def environment():
    """A superuser environment on the scratch database, committed on exit; the server is told
    which caches to drop."""
    registry = Registry(DB)
    with registry.cursor() as cr:
        yield api.Environment(cr, SUPERUSER_ID, {"lang": "en_US"})
    registry.signal_changes()


def demo_backends(env):
    """Every connection the demo files declare (demo_backend_*), the later files' included."""
    data = env["ir.model.data"].search(
        [("module", "=", "finance_sync"), ("model", "=", "finance.sync.backend"), ("name", "=like", "demo_backend_%")]
    )
    return env["finance.sync.backend"].with_context(active_test=False).browse(data.mapped("res_id"))


def prepare_first_connection(env):
    """Before the server starts: the demo's connections set aside (the dashboard starts empty),
    the demo user may edit mappings, nobody gets onboarding tips."""
    # An earlier run's own connections (SCREENS_REUSE) go; the demo's are set aside.
    env["finance.sync.backend"].with_context(active_test=False).search(
        [("id", "not in", demo_backends(env).ids)]
    ).unlink()
    demo_backends(env).action_archive()
    env.ref("base.user_demo").group_ids = [Command.link(env.ref("finance_sync.finance_sync_group_mapping_editor").id)]
    env["res.users"].search([]).write({"tour_enabled": False})


def prepare_story(env):
    """After the first connection: the demo's own story (demo/*.xml, models/finance_sync_demo.py)
    takes over: the connection made in the browser goes, the demo's connections come back.
    Returns the ids of what the pictures show."""
    env["finance.sync.backend"].search([("id", "not in", demo_backends(env).ids)]).unlink()
    demo_backends(env).action_unarchive()

    def ref(name):
        return env.ref(f"finance_sync.{name}").id

    return {  # ids: the pictures are taken from other transactions
        "treasury": ref("demo_backend_treasury"),
        "warehouse": ref("demo_backend_warehouse"),
        "mapping_set": ref("demo_mapping_set_warehouse"),
        "hub": ref("demo_backend_payments_hub"),
        "refused": ref("demo_bill_gave_up"),
        "ignored_problem": ref("demo_exception_set_aside"),
        "held": ref("demo_invoice_held"),
        "held_problem": ref("demo_exception_held"),
        "failed_problem": ref("demo_exception_gave_up"),
        "dead_job": ref("demo_job_gave_up"),
        "mismatched": ref("demo_reconciliation_mismatched"),
        "module": env["ir.module.module"].search([("name", "=", "finance_sync")]).id,
        "waiting_payment": env["finance.sync.job"]
        .search([("backend_id", "=", ref("demo_backend_payments_hub")), ("state", "=", "pending")], limit=1)
        .payment_id.id,
        "bill_to_approve": platform_bill_to_approve(env),
        "bi_warehouse": env["finance.sync.backend"]
        .create(
            {
                "name": "BI warehouse",
                "transport": "warehouse",
                "environment": "test",
                "warehouse_host": "127.0.0.1",
                "warehouse_port": int(config["db_port"] or 5432),
                "warehouse_database": "finance_bi",
                "warehouse_user": "finance_sync_loader",
                "warehouse_password": "demo-password-0042",
                "warehouse_sslmode": "require",  # this server offers no SSL: the test says so
                "signing_enabled": False,
                "company_ids": [(6, 0, demo_backends(env).company_ids[:1].ids)],
            }
        )
        .id,
    }


def platform_bill_to_approve(env):
    """A vendor bill the expense platform creates (bill.create, through the webhook's own path),
    which waits for the platform's approval before anyone may post it."""
    external_id = "exp_claim_0042"
    Move = env["account.move"]
    if Move.search([("finance_sync_origin_external_id", "=", external_id)], limit=1):  # an earlier run's
        return Move.search([("finance_sync_origin_external_id", "=", external_id)], limit=1).id
    backend = env.ref("finance_sync.demo_backend_expenses")
    company = backend.company_ids[:1]
    supplier = env.ref("base.res_partner_18")
    supplier.ref = supplier.ref or "SUP-LUMBER"
    account = env["account.account"].search(
        [("company_ids", "in", company.ids), ("account_type", "=", "expense")], order="code", limit=1
    )
    amount = "1234.57"
    payload = {
        "type": "bill.create",
        "schema_version": 1,
        "occurred_at": f"{date.today().isoformat()}T09:00:00Z",
        "data": {
            "external_id": external_id,
            "kind": "bill",
            "number": "EXP-0042",
            "invoice_date": date.today().isoformat(),
            "currency": company.currency_id.name,
            "partner": {"code": supplier.ref},
            "lines": [
                {"description": "Trade fair stand", "quantity": "1", "price_unit": amount, "account": account.code}
            ],
            "totals": {"untaxed": amount, "tax": "0.00", "total": amount},
        },
    }
    backend.active = True
    backend._receive_inbound_event("msg_demo_expense_0042", payload)
    return Move.search([("finance_sync_origin_external_id", "=", external_id)], limit=1).id


def platform_answer(request, _seen):
    """The platform of the first connection: it takes everything. Another one, at /strict,
    checks signatures with a secret it was never given and refuses every delivery (401)."""
    if request.path == "/strict":
        return 401, {}, None, '{"error": "invalid_signature", "message": "webhook-signature does not verify"}'
    return 200, {}, None


# === THE BROWSER === #


class Browser:
    """A headless Chromium driven over the DevTools protocol: open a page, wait for something
    on it, click, type, and take a picture."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.profile = tempfile.mkdtemp(prefix="finance_sync_screens_")
        executable = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
        if not executable:
            raise SystemExit("No Chromium found: install Debian's chromium (make setup does).")
        self.process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--no-first-run",
                "--lang=en-US",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = pathlib.Path(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline:
                raise RuntimeError("Chromium did not start")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        page = next(t for t in requests.get(f"http://127.0.0.1:{port}/json", timeout=10).json() if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.ids = iter(range(1, 1 << 30))
        self.size = None

    def close(self):
        self.ws.close()
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)

    def send(self, method, **params):
        request_id = next(self.ids)
        self.ws.send(json.dumps({"id": request_id, "method": method, "params": params}))
        while True:  # events are not needed: skip them
            message = json.loads(self.ws.recv())
            if message.get("id") == request_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def js(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}…: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression, what, timeout=30):
        deadline = time.monotonic() + timeout
        while not self.js(f"!!({expression})"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"Timed out waiting for {what} on {self.js('location.href')}")
            time.sleep(0.2)

    def wait_for(self, selector, text="", timeout=30):
        """Wait until an element matching ``selector`` (containing ``text``) shows and the web
        client is idle, then a little longer for animations."""
        self.wait(f"{find(selector, text)} && !document.querySelector('.o_blockUI')", f"{selector} {text}", timeout)
        time.sleep(0.8)

    def login(self, login, password):
        """Open a session as this user (the login form, posted as a browser would)."""
        session = requests.Session()
        page = session.get(f"{self.base_url}/web/login", timeout=30).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        session.post(
            f"{self.base_url}/web/login",
            data={"login": login, "password": password, "csrf_token": token},
            timeout=30,
        ).raise_for_status()
        self.send("Network.enable")
        self.send("Network.setCookie", name="session_id", value=session.cookies["session_id"], url=self.base_url)

    def resize(self, size):
        if size != self.size:
            width, height = size
            phone = size == PHONE
            self.send(
                "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=phone
            )
            self.send("Emulation.setTouchEmulationEnabled", enabled=phone)
            self.size = size

    def open(self, path, selector, text="", size=DESKTOP, timeout=30):
        self.resize(size)
        # The web client would restore the last action with its filters.
        self.js("location.protocol.startsWith('http') && sessionStorage.clear()")
        self.send("Page.navigate", url=f"{self.base_url}{path}")
        self.wait_for(selector, text, timeout)

    def click(self, selector, text=""):
        self.wait(f"{find(selector, text)}", f"{selector} {text}")
        self.js(f"(el => {{ el.scrollIntoView({{block: 'center'}}); el.click(); }})({find(selector, text)})")

    def type(self, selector, value, events=("input", "change")):
        """Type into an input or choose in a select as a person would (Odoo's fields listen to
        input and change; a search-as-you-type field only to input)."""
        self.wait(find(selector), selector)
        dispatch = "".join(f"el.dispatchEvent(new Event('{event}', {{bubbles: true}}));" for event in events)
        self.js(
            f"""(el => {{
                el.focus();
                Object.getOwnPropertyDescriptor(Object.getPrototypeOf(el), 'value').set.call(el, {json.dumps(value)});
                {dispatch}
            }})({find(selector)})"""
        )

    def shot(self, name, also=()):
        """Save what the page shows as docs/screens/<name>.png (and as each path of ``also``)."""
        self.js("document.activeElement && document.activeElement.blur()")  # no caret, no focus ring
        data = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        # 256 colours are plenty for a user interface and make the files about three times smaller.
        image = Image.open(io.BytesIO(data)).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT)
        suffix = "-phone" if self.size == PHONE else ""
        for path in (SCREENS / f"{name}{suffix}.png", *also):
            image.save(path, optimize=True)
        say(f"{name}{suffix}.png")


def find(selector, text=""):
    """JavaScript: the first visible element matching ``selector`` whose text contains ``text``."""
    return (
        f"[...document.querySelectorAll({json.dumps(selector)})]"
        f".find(el => el.offsetParent !== null && el.textContent.includes({json.dumps(text)}))"
    )


def record(action, res_id=None):
    return f"/odoo/action-{action}" + (f"/{res_id}" if res_id else "")


# === THE PICTURES === #


def first_connection(browser, platform):
    """Issue points 13 (empty state), 2 (new backend, ribbon) and 1 (the secret shown once)."""
    # The first page waits for the web client's assets, built on a fresh database.
    dashboard = record("finance_sync.finance_sync_dashboard_action")
    browser.open(dashboard, ".o_view_nocontent", "No platform connected", timeout=180)
    browser.shot("13-dashboard-empty")
    browser.click(".o_view_nocontent a", "Connect a platform")
    browser.wait_for(".o_form_view .o_field_widget[name='name'] input")
    browser.type(".o_field_widget[name='name'] input", "Ledger platform")
    browser.type(".o_field_widget[name='endpoint_url'] input", platform.url("/hook"))
    browser.shot("02-backend-new")
    browser.click(".o_form_button_save")
    browser.wait_for("button[name='action_reveal_signing_secret']")
    browser.shot("02-backend-saved-test-ribbon")
    browser.click("button[name='action_reveal_signing_secret']")
    browser.wait_for(".modal .o_field_widget[name='secret']", "whsec_")
    browser.shot("01-secret-shown-once", also=[DESCRIPTION / "screenshot_secret.png"])
    browser.click(".modal button[name='action_done']")
    browser.wait("!document.querySelector('.modal')", "the dialog to close")
    browser.click("button[name='action_test_connection']")
    browser.wait_for(".o_notification", "Connection OK")
    browser.shot("02-test-connection-ok", also=[DESCRIPTION / "screenshot_test_connection.png"])


BACKENDS = "finance_sync.finance_sync_backend_action"
EXCEPTIONS = "finance_sync.finance_sync_exception_action"
INVOICES, BILLS = "account.action_move_out_invoice_type", "account.action_move_in_invoice_type"


def errors_in_words(browser, records):
    """3. A connection refused (nothing listens at the payments hub's address), and what a
    platform that gave up left behind."""
    browser.open(record(BACKENDS, records["hub"]), "button[name='action_test_connection']")
    browser.click("button[name='action_test_connection']")
    browser.wait_for(".o_notification", "Connection failed")
    browser.shot("03-test-connection-refused")
    browser.open(record(BACKENDS, records["strict"]), "button[name='action_test_connection']")
    browser.click("button[name='action_test_connection']")
    browser.wait_for(".o_notification", "invalid_signature")
    browser.shot("03-test-connection-401-explained")
    browser.open(record(BACKENDS, records["bi_warehouse"]), "button[name='action_test_connection']")
    browser.click("button[name='action_test_connection']")
    browser.wait_for(".o_notification", "SSL")
    browser.shot("03-warehouse-test-in-words")
    problem = record(EXCEPTIONS, records["failed_problem"])
    browser.open(problem, ".o_form_view .alert-info", "What happened")
    browser.shot("03-exception-in-words")
    browser.open(problem, ".o_form_view .alert-info", size=PHONE)
    browser.shot("03-exception-in-words")


def connection_counters_and_backfill(browser, records):
    """5 and 8. A connection's counters, and sending what was posted before it existed."""
    browser.open(record(BACKENDS, records["treasury"]), "button[name='action_view_jobs']")
    browser.shot("05-backend-stat-buttons")
    browser.open(record(BACKENDS, records["warehouse"]), "button[name='action_backfill']")
    browser.click("button[name='action_backfill']")
    since = (date.today() - timedelta(days=90)).strftime("%m/%d/%Y")
    browser.type(".modal .o_field_widget[name='date_from'] input", since)
    browser.wait_for(".modal button[name='action_confirm']")
    browser.shot("08-send-existing-documents")


def mappings(browser, records):
    """6. What Find unmapped drafted, one Record column and the codes, a new line."""
    browser.open(
        record("finance_sync.finance_sync_mapping_set_action", records["mapping_set"]),
        "button[name='action_find_unmapped']",
    )
    browser.click("button[name='action_find_unmapped']")
    browser.wait_for(".o_notification")
    browser.shot("06-find-unmapped")
    browser.open(record("finance_sync.finance_sync_mapping_action"), ".o_list_renderer .o_group_header")
    browser.js("document.querySelectorAll('.o_group_header').forEach(h => h.click())")
    browser.wait_for(".o_data_row [name='record_ref']")
    browser.shot("06-mappings-record-column", also=[DESCRIPTION / "screenshot_mappings.png"])
    browser.click(".o_searchview .o_facet_remove")
    browser.wait_for(".o_data_row:not(.o_group_header)")
    browser.click(".o_list_button_add")
    browser.type(".o_selected_row [name='record_ref'] select", "res.partner", events=["change"])
    browser.type(".o_selected_row [name='record_ref'] input", "Lu", events=["input"])
    browser.wait_for(".o-autocomplete--dropdown-item", "Lumber")
    browser.shot("06-mappings-new-line")
    browser.click(".o_list_button_discard")
    # 7. Settings.
    browser.open(record("finance_sync.finance_sync_settings_action"), ".o_setting_container, .settings")
    browser.shot("07-settings")


def invoices(browser, records):
    """11, 4 and 12. The held and failed banners, the status column, the preview, an ignored problem."""
    browser.open(record(INVOICES, records["held"]), ".alert-warning", "Sync held")
    browser.shot("11-invoice-held-banner", also=[DESCRIPTION / "screenshot_invoice.png"])
    browser.open(record(INVOICES, records["held"]), ".alert-warning", "Sync held", size=PHONE)
    browser.shot("11-invoice-held-banner")
    browser.open(record(BILLS, records["refused"]), ".alert-danger", "Sync failed")
    browser.shot("11-invoice-failed-banner")
    browser.open(record(INVOICES), ".o_data_row [name='finance_sync_status']")
    browser.shot("11-invoice-list-sync-status")
    browser.open(record(BILLS, records["bill_to_approve"]), ".alert-warning", "approval")
    browser.shot("19-bill-waiting-for-approval")
    payment = f"/odoo/action-account.action_account_payments/{records['waiting_payment']}"
    browser.open(payment, ".o_finance_sync_waiting", "Sync waiting")
    browser.shot("20-payment-waiting-for-failing-platform")
    browser.open(record(INVOICES, records["held"]), "button[name='action_finance_sync_preview']")
    browser.click("button[name='action_finance_sync_preview']")
    browser.wait_for(".modal .o_field_widget[name='body_pretty']")
    browser.shot("04-preview-payload")
    # The reason a person gave is kept; the bill no longer reads as failed.
    browser.open(record(EXCEPTIONS, records["ignored_problem"]), ".o_form_view [name='ignore_reason']")
    browser.shot("12-ignored-problem")
    browser.open(record(BILLS), ".o_data_row [name='finance_sync_status']", "Failed")
    browser.shot("12-ignored-bill-not-red")


def overview(browser, records):
    """13 to 16. The dashboard, the deliveries, the problems on a phone, an empty list."""
    dashboard = record("finance_sync.finance_sync_dashboard_action")
    browser.open(dashboard, ".o_kanban_record", "Treasury")
    browser.shot("13-dashboard", also=[DESCRIPTION / "screenshot_dashboard.png"])
    browser.open(dashboard, ".o_kanban_record", "Treasury", size=PHONE)
    browser.shot("13-dashboard")
    browser.open(record("finance_sync.finance_sync_job_action"), ".o_data_row")
    browser.shot("14-jobs-list")
    gave_up = record("finance_sync.finance_sync_job_action", records["dead_job"])
    browser.open(gave_up, ".o_field_widget[name='attempt_ids']", "Gave up")
    browser.shot("14-job-gave-up")
    browser.open(record(EXCEPTIONS), ".o_data_row")
    browser.shot("15-exceptions-list")
    browser.open(record(EXCEPTIONS), ".o_kanban_record", size=PHONE)
    browser.shot("15-exceptions-kanban")
    browser.open(record("finance_sync.finance_sync_backfill_run_action"), ".o_view_nocontent")
    browser.shot("16-empty-state")


RECONCILIATIONS = "finance_sync.finance_sync_reconciliation_action"


def reconciliation(browser, records):
    """18. November lacks a delivered invoice: named with its document, sent again on request
    (nothing listens at the demo's address: the event waits for its next try)."""
    browser.open(record(RECONCILIATIONS, records["mismatched"]), "button[name='action_resend_missing']")
    browser.shot("18-reconciliation-mismatch")
    browser.click("button[name='action_resend_missing']")
    # The jobs sent again, in their list (the form's control totals are a list too).
    browser.wait(
        "document.querySelector('.o_list_view .o_data_row') && !document.querySelector('.o_form_view')"
        " && !document.querySelector('.o_blockUI')",
        "the events sent again",
        timeout=60,
    )
    time.sleep(0.8)
    browser.shot("18-reconciliation-resent")


def mapping_editor(browser, records):
    """10. The finance user with the Mapping editor right adds the missing code from the exception."""
    browser.login("demo", "demo")
    exception = record(EXCEPTIONS, records["held_problem"])
    browser.open(exception, "button[name='action_add_mapping']")
    browser.shot("10-exception-add-mapping", also=[DESCRIPTION / "screenshot_exception.png"])
    browser.click("button[name='action_add_mapping']")
    browser.wait_for(".modal .o_field_widget[name='external_code'] input")
    browser.type(".modal .o_field_widget[name='external_code'] input", "CUST-00003")
    browser.shot("10-add-mapping-dialog")
    browser.click(".modal .o_form_button_cancel")  # the pictures show it; nothing is saved


def apps_page(browser, records):
    """9. The module's page in Apps (static/description/index.html, with the pictures above)."""
    browser.login("admin", "admin")
    browser.open(record("base.open_module_tree", records["module"]), ".o_form_view section")
    browser.shot("09-apps-page")
    browser.js(f"{find('.o_form_view h3', 'Getting started')}.scrollIntoView()")
    time.sleep(0.5)
    browser.shot("09-apps-page-getting-started")


def main():
    if not CONF.exists():
        raise SystemExit("Run make setup first (it writes .build/odoo.conf).")
    config.parse_config(["-c", str(CONF), "-d", DB, "--db-filter", f"^{DB}$", "--log-level=warn"])
    threading.current_thread().dbname = DB
    # The servers and the platforms' receiver of the tests (importable once the addons path is set).
    from odoo.addons.finance_sync.tests.servers import ODOO_BIN, OdooServer, Recorder

    started = time.monotonic()
    if os.environ.get("SCREENS_REUSE"):  # a database of an earlier run: its demo story is there
        say(f"reusing {DB}")
    else:
        install(ODOO_BIN)
    SCREENS.mkdir(parents=True, exist_ok=True)

    with environment() as env:
        prepare_first_connection(env)
    server = OdooServer(DB, "--max-cron-threads=0")
    with Recorder(platform_answer) as platform:
        server.start()
        browser = Browser(f"http://127.0.0.1:{server.port}")
        try:
            browser.login("admin", "admin")
            first_connection(browser, platform)
            with environment() as env:
                records = prepare_story(env)
                records["strict"] = (
                    env["finance.sync.backend"]
                    .create(
                        {
                            "name": "Risk engine",
                            "environment": "staging",
                            "endpoint_url": platform.url("/strict"),
                            "company_ids": [(6, 0, demo_backends(env).company_ids[:1].ids)],
                        }
                    )
                    .id
                )
            for pictures in (
                errors_in_words,
                connection_counters_and_backfill,
                mappings,
                invoices,
                overview,
                reconciliation,
            ):
                pictures(browser, records)
            mapping_editor(browser, records)
            apps_page(browser, records)
        finally:
            browser.close()
            server.stop()
    say(f"done in {time.monotonic() - started:.0f} s: {len(list(SCREENS.glob('*.png')))} pictures in {SCREENS}")


if __name__ == "__main__":
    main()
