"""Who may change what an authority depends on, against one table of roles and actions.

A backend may be three authorities: the *payment authority* (its platform's payments are
registered), a *document source* (its platform creates invoices and bills) and the *credit
authority* (its platform sets credit limits and holds). Making a backend one, and everything its
word then depends on (its settings, secrets, webhook token, companies, mapping set and that set's
mappings and policies), is an accounting administrator's decision: a Finance Sync administrator
configures connections but never gains authority. What the module records (jobs, inbound events,
bindings, external payments) nobody writes by hand.

Each row of ``ROWS`` is an action with the roles that may do it and a probe that reads what it
would change. Every role tries every row, also with the context key of the module's own writes
forged: a refusal is an AccessError and leaves the probe's reading as it was (read before the
attempt is rolled back); an allowed action changes it. To check a new case, add a row.
"""

from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

from odoo.exceptions import AccessError
from odoo.fields import Command
from odoo.tests import tagged

from ..engine import signing
from ..utils import internal
from .common import FinanceSyncCase

# The context key the module's own methods set; RPC callers can send it with any JSON value.
FORGED_CONTEXT = {"finance_sync_internal_write": True}

ROLES = {
    "sync user": ("finance_sync.finance_sync_group_user",),
    "mapping editor": ("finance_sync.finance_sync_group_mapping_editor",),
    "sync admin": ("finance_sync.finance_sync_group_admin",),
    "billing user": ("account.group_account_invoice",),
    "accounting admin": ("account.group_account_manager",),
    "accounting and sync admin": ("account.group_account_manager", "finance_sync.finance_sync_group_admin"),
}
ACCOUNTING = frozenset({"accounting and sync admin"})
NOBODY = frozenset()
SYNC_ADMINS = frozenset({"sync admin", "accounting and sync admin"})
MAPPING_EDITORS = SYNC_ADMINS | {"mapping editor"}
NEW_SECRET = signing.generate_secret()


@dataclass(frozen=True)
class Row:
    label: str
    action: Callable  # (test case, env of the role) -> None
    probe: Callable  # (test case) -> what the action would change, read as the superuser
    allowed: frozenset = ACCOUNTING


def backend(name):
    """The backend ``name`` of the test case (see ``setUpClass``) in ``env``."""
    return lambda t, env: env["finance.sync.backend"].browse(t.backends[name].id)


def write(name, **vals):
    return lambda t, env: backend(name)(t, env).write({k: v(t) if callable(v) else v for k, v in vals.items()})


def call(name, method):
    return lambda t, env: getattr(backend(name)(t, env), method)()


def read(name, *fnames):
    return lambda t: t.backends[name].sudo().read(list(fnames))[0]


def stored(name, *fnames):
    """Columns of backend ``name`` read in SQL (the encrypted secrets, the token)."""
    query = f"SELECT {', '.join(fnames)} FROM finance_sync_backend WHERE id = %s"  # noqa: S608 - names of this file
    return lambda t: t.sql(query, t.backends[name].id)


def revealed(name):
    return lambda t: (
        t.backends[name].sudo().signing_secret_unseen,
        t.env["finance.sync.secret.reveal"].sudo().search_count([("backend_id", "=", t.backends[name].id)]),
    )


def lines(set_name):
    return lambda t: sorted(
        (m.kind, m.res_id, m.external_code or "") for m in t.mapping_sets[set_name].sudo().mapping_ids
    )


def policies(set_name):
    return lambda t: sorted(
        (p.kind, p.policy, p.default_code or "") for p in t.mapping_sets[set_name].sudo().policy_ids
    )


def set_state(set_name):
    return lambda t: t.sql(
        "SELECT s.active, array(SELECT res_company_id FROM finance_sync_mapping_set_res_company_rel r "
        "WHERE r.finance_sync_mapping_set_id = s.id ORDER BY 1) FROM finance_sync_mapping_set s WHERE s.id = %s",
        t.mapping_sets[set_name].id,
    )


def rows_of(table):
    return lambda t: t.sql(f"SELECT count(*) FROM {table}")  # noqa: S608 - a table name of this file


def line(set_name, code):
    return lambda t, env: env["finance.sync.mapping"].browse(
        t.mapping_sets[set_name].mapping_ids.filtered(lambda m: m.external_code == code).id
    )


def policy(set_name, kind):
    return lambda t, env: env["finance.sync.mapping.policy"].browse(
        t.mapping_sets[set_name].policy_ids.filtered(lambda p: p.kind == kind).id
    )


def mapping_set(set_name):
    return lambda t, env: env["finance.sync.mapping.set"].browse(t.mapping_sets[set_name].id)


def secret_rows(name, authority):
    """What lets someone speak in the name of backend ``name`` (an ``authority``)."""
    return [
        Row(
            f"{authority}: signing secret",
            write(name, signing_secret=NEW_SECRET),
            stored(name, "signing_secret_encrypted"),
        ),
        Row(
            f"{authority}: credentials",
            write(name, auth_mode="bearer", auth_secret="tok-known"),
            stored(name, "auth_secret_encrypted"),
        ),
        Row(f"{authority}: basic user name", write(name, auth_username="someone"), read(name, "auth_username")),
        Row(
            f"{authority}: rotation overlap",
            write(name, signing_overlap_hours=100000),
            read(name, "signing_overlap_hours"),
        ),
        Row(
            f"{authority}: webhook token", call(name, "action_regenerate_webhook_token"), stored(name, "webhook_token")
        ),
        Row(f"{authority}: reveal the generated secret", call(name, "action_reveal_signing_secret"), revealed(name)),
        Row(
            f"{authority}: companies",
            write(name, company_ids=lambda t: [Command.link(t.other_company.id)]),
            read(name, "company_ids"),
        ),
    ]


def mapping_rows(name, set_name, authority):
    """Where the platform's codes of backend ``name`` (an ``authority``) point: its mapping set
    ``set_name``, the set's mappings and policies."""
    return [
        Row(
            f"{authority}: another mapping set",
            write(name, mapping_set_id=lambda t: t.mapping_sets["spare"].id),
            read(name, "mapping_set_id"),
        ),
        Row(f"{authority}: detach the mapping set", write(name, mapping_set_id=False), read(name, "mapping_set_id")),
        Row(
            f"{authority}: detach through the set's backends",
            lambda t, env: mapping_set(set_name)(t, env).write({"backend_ids": [Command.unlink(t.backends[name].id)]}),
            read(name, "mapping_set_id"),
        ),
        Row(
            f"{authority}: the account a code books to",
            lambda t, env: line(set_name, "4000")(t, env).write({"account_id": t.other_account.id}),
            lines(set_name),
        ),
        Row(
            f"{authority}: a mapping's code",
            lambda t, env: line(set_name, "4000")(t, env).write({"external_code": "4999"}),
            lines(set_name),
        ),
        Row(
            f"{authority}: a new mapping",
            lambda t, env: env["finance.sync.mapping"].create(
                {
                    "set_id": t.mapping_sets[set_name].id,
                    "kind": "account",
                    "account_id": t.other_account.id,
                    "external_code": "4100",
                }
            ),
            lines(set_name),
        ),
        Row(
            f"{authority}: a new mapping through a context default",
            lambda t, env: (
                env["finance.sync.mapping"]
                .with_context(default_set_id=t.mapping_sets[set_name].id, default_external_code="4100")
                .create({"kind": "account", "account_id": t.other_account.id})
            ),
            lines(set_name),
        ),
        Row(f"{authority}: delete a mapping", lambda t, env: line(set_name, "4000")(t, env).unlink(), lines(set_name)),
        Row(
            f"{authority}: a policy",
            lambda t, env: policy(set_name, "account")(t, env).write({"policy": "default", "default_code": "4000"}),
            policies(set_name),
        ),
        Row(
            f"{authority}: delete a policy", lambda t, env: policy(set_name, "tax")(t, env).unlink(), policies(set_name)
        ),
        Row(
            f"{authority}: the set's companies",
            lambda t, env: mapping_set(set_name)(t, env).write({"company_ids": [Command.set([t.other_company.id])]}),
            set_state(set_name),
        ),
        Row(
            f"{authority}: archive the set",
            lambda t, env: mapping_set(set_name)(t, env).write({"active": False}),
            set_state(set_name),
        ),
        Row(
            f"{authority}: delete the set",
            lambda t, env: mapping_set(set_name)(t, env).unlink(),
            rows_of("finance_sync_mapping_set"),
        ),
    ]


ROWS = [
    # --- payment authority
    Row(
        "payment: make a platform the payment authority",
        write("plain", payment_authority=True, payment_journal_id=lambda t: t.bank.id),
        read("plain", "payment_authority", "payment_journal_id"),
    ),
    Row(
        "payment: its journal",
        write("payer", payment_journal_id=lambda t: t.cash.id),
        read("payer", "payment_journal_id"),
    ),
    Row(
        "payment: the documents it pays",
        write("payer", payment_authority_bills=True),
        read("payer", "payment_authority_bills"),
    ),
    Row("payment: withdraw it", write("payer", payment_authority=False), read("payer", "payment_authority")),
    Row("payment: copy a payment authority", call("payer", "copy"), rows_of("finance_sync_backend")),
    *secret_rows("payer", "payment"),
    # --- document source
    Row(
        "documents: make a platform a document source",
        write("plain", document_source_bills=True),
        read("plain", "document_source_bills", "is_document_source"),
    ),
    Row(
        "documents: clear the computed document source flag",
        write("source", is_document_source=False),
        read("source", "is_document_source", "document_source_bills"),
        NOBODY,
    ),
    Row(
        "documents: posting policy",
        write("source", document_posting_policy="immediate"),
        read("source", "document_posting_policy"),
    ),
    Row(
        "documents: journal of created bills",
        write("source", document_purchase_journal_id=lambda t: t.purchase_journal.id),
        read("source", "document_purchase_journal_id"),
    ),
    Row(
        "documents: withdraw it", write("source", document_source_bills=False), read("source", "document_source_bills")
    ),
    Row(
        "documents: create a document source through a context default",
        lambda t, env: (
            env["finance.sync.backend"]
            .with_context(default_document_source_bills=True)
            .create({"name": "Defaulted", "signing_secret": NEW_SECRET})
        ),
        rows_of("finance_sync_backend"),
    ),
    Row(
        "documents: preset the posting policy through a default of one's own",
        lambda t, env: (
            env["ir.default"].set("finance.sync.backend", "document_posting_policy", "immediate", user_id=True),
            env["finance.sync.backend"].create({"name": "Preset policy"}),
        ),
        rows_of("finance_sync_backend"),
    ),
    Row("documents: copy a document source", call("source", "copy"), rows_of("finance_sync_backend")),
    Row(
        "documents: create a document source through a default of one's own",
        lambda t, env: (
            env["ir.default"].set("finance.sync.backend", "document_source_bills", True, user_id=True),
            env["finance.sync.backend"].create({"name": "Saved default"}),
        ),
        rows_of("finance_sync_backend"),
    ),
    *secret_rows("source", "documents"),
    *mapping_rows("source", "codes", "documents"),
    # --- credit authority
    Row(
        "credit: make a platform the credit authority",
        write("plain", credit_authority=True),
        read("plain", "credit_authority"),
    ),
    Row("credit: withdraw it", write("creditor", credit_authority=False), read("creditor", "credit_authority")),
    Row("credit: copy a credit authority", call("creditor", "copy"), rows_of("finance_sync_backend")),
    *secret_rows("creditor", "credit"),
    *mapping_rows("creditor", "risk", "credit"),
    # --- a backend that is no authority: its connection is the Finance Sync administrators'
    Row(
        "plain: signing secret",
        write("plain", signing_secret=NEW_SECRET),
        stored("plain", "signing_secret_encrypted"),
        SYNC_ADMINS,
    ),
    Row(
        "plain: webhook token",
        call("plain", "action_regenerate_webhook_token"),
        stored("plain", "webhook_token"),
        SYNC_ADMINS,
    ),
    Row(
        "plain: reveal the generated secret",
        call("plain", "action_reveal_signing_secret"),
        revealed("plain"),
        SYNC_ADMINS,
    ),
    Row(
        "plain: mapping set",
        write("plain", mapping_set_id=lambda t: t.mapping_sets["spare"].id),
        read("plain", "mapping_set_id"),
        SYNC_ADMINS,
    ),
    Row(
        "plain: a mapping's code",
        lambda t, env: line("plain codes", "4000")(t, env).write({"external_code": "4999"}),
        lines("plain codes"),
        MAPPING_EDITORS,
    ),
    Row(
        "documents: a draft line without a code (Find unmapped)",
        lambda t, env: env["finance.sync.mapping"].create(
            {"set_id": t.mapping_sets["codes"].id, "kind": "account", "account_id": t.other_account.id}
        ),
        lines("codes"),
        MAPPING_EDITORS,
    ),
    # --- what the module records: nobody writes it by hand
    Row(
        "jobs: create one",
        lambda t, env: env["finance.sync.job"].create(
            {
                "backend_id": t.backends["plain"].id,
                "company_id": t.company.id,
                "event_uuid": "forged-job",
                "event_type": "ping",
                "res_model": "res.partner",
                "res_id": t.partner_a.id,
                "sequence": 1,
            }
        ),
        rows_of("finance_sync_job"),
        NOBODY,
    ),
    Row(
        "jobs: mark one delivered",
        lambda t, env: env["finance.sync.job"].browse(t.job.id).write({"state": "done"}),
        lambda t: t.job.sudo().read(["state"]),
        NOBODY,
    ),
    Row(
        "inbound events: create one",
        lambda t, env: env["finance.sync.inbound.event"].create(
            {
                "backend_id": t.backends["source"].id,
                "company_id": t.company.id,
                "webhook_id": "forged",
                "event_type": "approval.status",
                "payload": {},
            }
        ),
        rows_of("finance_sync_inbound_event"),
        NOBODY,
    ),
    Row(
        "inbound events: rewrite a payload",
        lambda t, env: env["finance.sync.inbound.event"].browse(t.inbound_event.id).write({"payload": {"type": "x"}}),
        lambda t: t.inbound_event.sudo().read(["payload"]),
        NOBODY,
    ),
    Row(
        "bindings: plant one for a platform's future document",
        lambda t, env: env["finance.sync.binding"].create(
            {
                "backend_id": t.backends["source"].id,
                "company_id": t.company.id,
                "res_model": "account.move",
                "res_id": t.draft_bill.id,
                "move_id": t.draft_bill.id,
                "external_id": "bill_future",
            }
        ),
        rows_of("finance_sync_binding"),
        NOBODY,
    ),
    Row(
        "bindings: plant one through context defaults",
        lambda t, env: (
            env["finance.sync.binding"]
            .with_context(
                default_backend_id=t.backends["source"].id,
                default_company_id=t.company.id,
                default_res_model="account.move",
                default_res_id=t.draft_bill.id,
                default_move_id=t.draft_bill.id,
                default_external_id="bill_future",
            )
            .create({})
        ),
        rows_of("finance_sync_binding"),
        NOBODY,
    ),
    Row(
        "bindings: point one at another document",
        lambda t, env: (
            env["finance.sync.binding"]
            .browse(t.binding.id)
            .write({"res_id": t.draft_bill.id, "move_id": t.draft_bill.id})
        ),
        lambda t: t.binding.sudo().read(["res_id", "external_id"]),
        NOBODY,
    ),
    Row(
        "bindings: delete the binding of a document a platform created",
        lambda t, env: env["finance.sync.binding"].browse(t.created_binding.id).unlink(),
        rows_of("finance_sync_binding"),
        NOBODY,
    ),
    Row(
        "external payments: create one",
        lambda t, env: env["finance.sync.external.payment"].create(
            {
                "backend_id": t.backends["payer"].id,
                "move_id": t.invoice.id,
                "reference": "pay_forged",
                "status": "succeeded",
                "currency_id": t.invoice.currency_id.id,
            }
        ),
        rows_of("finance_sync_external_payment"),
        NOBODY,
    ),
    Row(
        "external payments: rewrite a status",
        lambda t, env: env["finance.sync.external.payment"].browse(t.external_payment.id).write({"status": "failed"}),
        lambda t: t.external_payment.sudo().read(["status"]),
        NOBODY,
    ),
]


@tagged("post_install", "-at_install")
class TestAuthorityTable(FinanceSyncCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other_company = cls.setup_other_company()["company"]
        companies = cls.company | cls.other_company
        cls.users = {role: cls.make_user(f"fs_auth_{i}", *groups, companies=companies) for i, (role, groups) in
                     enumerate(ROLES.items())}  # fmt: skip
        cls.bank = cls.company_data["default_journal_bank"]
        cls.cash = cls.company_data["default_journal_cash"]
        cls.purchase_journal = cls.company_data["default_journal_purchase"].copy({"name": "Platform bills"})
        cls.other_account = cls.company_data["default_account_revenue"].copy({"code": "400200"})
        Set = cls.env["finance.sync.mapping.set"]
        cls.mapping_sets = {name: Set.create({"name": name, "company_ids": False}) for name in
                            ("codes", "risk", "plain codes", "spare")}  # fmt: skip
        for mapping_set in cls.mapping_sets.values():
            cls.env["finance.sync.mapping"].create(
                {"set_id": mapping_set.id, "kind": "account",
                 "account_id": cls.company_data["default_account_revenue"].id, "external_code": "4000"}
            )  # fmt: skip
        Backend = cls.env["finance.sync.backend"]
        common = {"endpoint_url": cls.receiver.url_for("/hook"), "company_ids": [Command.set(cls.company.ids)]}
        # Created without a secret: Odoo generates one, not shown yet (the reveal rows).
        cls.backends = {
            "plain": Backend.create({"name": "Plain", **common, "mapping_set_id": cls.mapping_sets["plain codes"].id}),
            "payer": Backend.create(
                {"name": "Payer", **common, "payment_authority": True, "payment_journal_id": cls.bank.id}
            ),
            "source": Backend.create(
                {"name": "Source", **common, "document_source_invoices": True, "document_source_bills": True,
                 "mapping_set_id": cls.mapping_sets["codes"].id}
            ),
            "creditor": Backend.create(
                {"name": "Creditor", **common, "credit_authority": True, "mapping_set_id": cls.mapping_sets["risk"].id}
            ),
        }  # fmt: skip
        # What the module records, to try to rewrite.
        cls.invoice = cls.init_invoice("out_invoice", amounts=[1234.57], post=True)
        cls.job = cls.Job.search([("move_id", "=", cls.invoice.id)], limit=1)
        cls.draft_bill = cls.init_invoice("in_invoice", amounts=[12.10])
        source = cls.backends["source"]
        cls.binding = source._inbound_env(cls.env["finance.sync.binding"])._bind(source, cls.invoice, "inv_ack")
        created = internal(cls.env["account.move"]).create(
            {"move_type": "in_invoice", "partner_id": cls.partner_a.id, "finance_sync_origin_backend_id": source.id,
             "finance_sync_origin_external_id": "bill_created"}
        )  # fmt: skip
        cls.created_binding = source._inbound_env(cls.env["finance.sync.binding"])._bind(
            source, created, "bill_created"
        )
        Event = source._inbound_env(cls.env["finance.sync.inbound.event"])
        at = "2026-01-05T10:00:00Z"
        data = {"external_id": "nothing", "status": "approved", "by": "x", "at": at}
        payload = {"type": "approval.status", "schema_version": 1, "occurred_at": at, "data": data}
        event_id, _duplicate = Event._receive(source.with_env(Event.env), "msg_table", payload, {})
        cls.inbound_event = cls.env["finance.sync.inbound.event"].browse(event_id)
        cls.external_payment = internal(cls.env["finance.sync.external.payment"].sudo()).create(
            {"backend_id": cls.backends["payer"].id, "move_id": cls.invoice.id, "reference": "pay_table",
             "status": "succeeded", "currency_id": cls.invoice.currency_id.id}
        )  # fmt: skip

    def sql(self, query, *params):
        self.env.flush_all()
        self.env.cr.execute(query, params)
        return self.env.cr.fetchall()

    def attempt(self, row, role, context):
        """(the error raised or None, the probe's reading before, and after the attempt), the
        attempt then rolled back."""
        self.env.invalidate_all()
        before = row.probe(self)
        env = self.env(user=self.users[role], context=dict(self.env.context, **context))
        error = None
        with closing(self.env.cr.savepoint(flush=False)):
            try:
                row.action(self, env)
                env.flush_all()
            except AccessError as exc:
                error = exc
            self.env.invalidate_all()
            after = row.probe(self)
        self.env.invalidate_all()
        return error, before, after

    def test_every_role_may_do_what_its_row_says_and_nothing_else(self):
        self.assertEqual(len({row.label for row in ROWS}), len(ROWS), "row labels are unique")
        failures = []
        for row in ROWS:
            for role in ROLES:
                for label, context in (("", {}), (" (forged context)", FORGED_CONTEXT)):
                    try:
                        error, before, after = self.attempt(row, role, context)
                    except Exception as exc:  # reported with the others below
                        failures.append(f"{row.label} as {role}{label}: {type(exc).__name__}: {exc}"[:300])
                        continue
                    if role in row.allowed and error:
                        failures.append(f"{row.label} as {role}{label}: refused: {error}"[:300])
                    elif role in row.allowed and before == after:
                        failures.append(f"{row.label} as {role}{label}: allowed but changed nothing")
                    elif role not in row.allowed and not error:
                        failures.append(f"{row.label} as {role}{label}: not refused")
                    elif role not in row.allowed and before != after:
                        failures.append(f"{row.label} as {role}{label}: refused but changed {before} -> {after}")
        self.assertFalse(failures, "\n" + "\n".join(failures))
