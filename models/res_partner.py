import json
import logging

from psycopg2.errors import UniqueViolation

from odoo import api, models
from odoo.exceptions import AccessError, ConcurrencyError

from .. import const
from ..engine import payload as payload_lib
from ..engine import profile as profile_lib
from ..utils import NO_CAPTURE, switched_on, without_context_defaults
from . import finance_sync_outbox as outbox
from .finance_sync_document_mixin import PayloadBlocks

_logger = logging.getLogger(__name__)

# Fields a partner.upserted event carries (of the partner, or of its invoice and delivery
# addresses): writes that touch none of them cost nothing; writes that touch them are compared
# value by value. Fields Odoo writes on partners while posting and paying (its ranking counters'
# increments, follower and activity fields, the credit it computes, EDI preferences, warnings)
# are not master data and change nothing sent.
MASTER_FIELDS = frozenset(
    {
        "name",
        "ref",
        "company_registry",
        "vat",
        "country_id",
        "state_id",
        "street",
        "street2",
        "zip",
        "city",
        "email",
        "phone",
        "type",
        "parent_id",
        "child_ids",
        "is_company",
        "property_payment_term_id",
        "property_supplier_payment_term_id",
        "credit_limit",
        # Only whether the partner is a customer or a supplier at all is compared (see
        # _comparable): Odoo counts each posted invoice and payment in these.
        "customer_rank",
        "supplier_rank",
        "active",
        "bank_ids",
    }
)
# Counters Odoo maintains for its own ranking: sent as they are, compared as roles (zero or not).
RANK_FIELDS = ("customer_rank", "supplier_rank")
ADDRESS_TYPES = ("invoice", "delivery")
# What a credit authority decides (res_partner_credit.py): only accounting administrators change
# it by hand (create, write), and no context default sets it (default_get).
CREDIT_HOLD_FIELDS = frozenset(
    {
        "finance_sync_credit_hold",
        "finance_sync_credit_hold_reason",
        "finance_sync_credit_decided_at",
        "finance_sync_credit_reference",
        "finance_sync_credit_backend_id",
    }
)
PRECOMMIT_PARTNERS = "finance_sync.partners_before"
# {(backend id, partner id): id of the partner.upserted job this transaction captured}; kept in the
# post-commit data, which lives as long as the transaction (cleared by its commit or rollback).
TRANSACTION_PARTNER_JOBS = "finance_sync.partner_jobs"
# {partner id: {backend id}} of the accounts this transaction applied from platforms (inbound
# partner.upsert, res_partner_account.py): their partner.upserted events skip those backends.
TRANSACTION_ECHOES = "finance_sync.partner_echoes"


class ResPartner(models.Model):
    _inherit = "res.partner"

    # === CRUD METHODS === #

    @api.model
    def default_get(self, fields):
        # A context default never puts a customer on credit hold or lifts it (see create).
        return super(ResPartner, without_context_defaults(self, CREDIT_HOLD_FIELDS)).default_get(fields)

    @api.model_create_multi
    def create(self, vals_list):
        if any(CREDIT_HOLD_FIELDS & vals.keys() for vals in vals_list) and not (
            self.env.su or self.env.user.has_group("account.group_account_manager")
        ):
            raise AccessError(self.env._("Only accounting administrators may change a customer's credit hold."))
        capture = not switched_on(self.env, NO_CAPTURE)
        if capture:
            # A new invoice or delivery address changes its company's master data.
            parents = self.browse({vals["parent_id"] for vals in vals_list if vals.get("parent_id")})
            parents.commercial_partner_id._finance_sync_note_change()
        partners = super().create(vals_list)
        if capture:
            # Also the companies given by context defaults, noted after the fact: they are compared
            # with what each backend last received of them.
            partners.commercial_partner_id._finance_sync_note_change(new=True)
        return partners

    def write(self, vals):
        if CREDIT_HOLD_FIELDS & vals.keys() and not (
            self.env.su or self.env.user.has_group("account.group_account_manager")
        ):
            # A credit authority's decisions are recorded by the inbound processing; by hand, only
            # accounting administrators may put a customer on hold or lift it.
            raise AccessError(self.env._("Only accounting administrators may change a customer's credit hold."))
        if {"credit_limit", "finance_sync_credit_hold"} & vals.keys():
            self.commercial_partner_id._finance_sync_note_exposure()  # the exposure carries both
        if switched_on(self.env, NO_CAPTURE) or not MASTER_FIELDS & vals.keys():
            return super().write(vals)
        commercial = self.commercial_partner_id
        # A contact moved under another company becomes one of its addresses: that company is
        # noted as it was before the move too.
        if vals.get("parent_id"):
            commercial |= self.browse(vals["parent_id"]).commercial_partner_id
        commercial._finance_sync_note_change()
        res = super().write(vals)
        # Whatever else changed whose contact this is (e.g. a company becoming a person).
        (self.commercial_partner_id - commercial)._finance_sync_note_change(new=True)
        return res

    def unlink(self):
        if not switched_on(self.env, NO_CAPTURE):
            # A deleted address is no longer among its company's addresses.
            (self.commercial_partner_id - self)._finance_sync_note_change()
        return super().unlink()

    # === MASTER DATA: CAPTURE === #

    def _finance_sync_note_change(self, new=False):
        """Remember, once per transaction, what these partners looked like before its first
        change; just before commit, partners that really changed are captured (one event each,
        however many writes the transaction made).

        :param new: the partners are noted after their change (created, or reached through a
            context default): they are compared with what each backend last received only.
        """
        partners = self.filtered(lambda p: isinstance(p.id, int))
        if not partners or not self._finance_sync_master_data_enabled():
            return
        data = self.env.cr.precommit.data
        if PRECOMMIT_PARTNERS not in data:
            self.env.cr.precommit.add(self._finance_sync_flush_partners)
        before = data.setdefault(PRECOMMIT_PARTNERS, {})
        for partner in partners.sudo().with_context(active_test=False):
            if partner.id not in before:
                before[partner.id] = None if new else _comparable(partner._finance_sync_partner_block(PayloadBlocks()))

    @api.model
    def _finance_sync_master_data_enabled(self):
        """Whether any backend receives master data (else nothing is noted or compared)."""
        return bool(
            self.env["finance.sync.backend"]
            .sudo()
            .search_count([("send_master_data", "=", True), ("state", "in", ("active", "paused"))], limit=1)
        )

    def _finance_sync_flush_partners(self, ids=None):
        """Capture the noted partners (only ``ids`` among them, when given) that really changed."""
        noted = self.env.cr.precommit.data.get(PRECOMMIT_PARTNERS, {})
        before = {pid: noted.pop(pid) for pid in (list(noted) if ids is None else ids) if pid in noted}
        if not noted:
            self.env.cr.precommit.data.pop(PRECOMMIT_PARTNERS, None)
        partners = self.env["res.partner"].sudo().with_context(active_test=False).browse(list(before)).exists()
        changed = partners.filtered(
            lambda p: (
                p.commercial_partner_id == p
                and before[p.id] != _comparable(p._finance_sync_partner_block(PayloadBlocks()))
            )
        )
        if changed:
            changed._finance_sync_capture_master()
        if ids is None:
            self.env.flush_all()

    def _finance_sync_master_backends(self):
        """{partner id: backends (master data scope) that receive these partners}: customers and
        suppliers of their companies, and any partner a backend already received."""
        backends = (
            self.env["finance.sync.backend"]
            .sudo()
            .search([("send_master_data", "=", True), ("state", "in", ("active", "paused"))])
        )
        if not backends:
            return {}
        heard = self.filtered(lambda p: not (p.customer_rank or p.supplier_rank))._finance_sync_heard_of()
        result = {}
        for partner in self:
            wanted = heard.get(partner.id, backends.browse()) & backends
            if partner.customer_rank or partner.supplier_rank:
                wanted = backends.filtered(lambda b, p=partner: not p.company_id or p.company_id in b.company_ids)
            if wanted:
                result[partner.id] = wanted
        return result

    def _finance_sync_capture_master(self, backends_by_partner=None, company=None, only_changed=True):
        """Capture ``partner.upserted`` for these (commercial) partners, for the backends in scope
        (or ``backends_by_partner``); with ``only_changed``, not for a backend whose last partner
        event already carries the same data.

        :param company: the company whose view of the partner is sent (company-dependent payment
            terms and credit limit); by default the partner's own, else the backend's first.
        """
        backends_by_partner = backends_by_partner or _without_echoes(self.env, self._finance_sync_master_backends())
        if not backends_by_partner:
            return self.env["finance.sync.job"]
        partners = self.browse(list(backends_by_partner)).sudo().with_context(active_test=False)
        last = partners._finance_sync_last_partner_blocks() if only_changed else {}
        jobs = self.env["finance.sync.job"]
        # One capture per company whose view is sent (a job belongs to one company).
        groups = {}
        for partner in partners:
            for backend in backends_by_partner[partner.id]:
                target = company or partner.company_id or backend.company_ids[:1]
                if self.env.company in backend.company_ids and not (company or partner.company_id):
                    target = self.env.company
                groups.setdefault(target, {}).setdefault(partner.id, self.env["finance.sync.backend"])
                groups[target][partner.id] |= backend
        for target, targets in groups.items():
            records = partners.browse(list(targets)).with_company(target)
            blocks = PayloadBlocks()
            payloads = {p.id: p._finance_sync_partner_payload(blocks, target) for p in records}
            wanted = targets
            if only_changed:
                # What each backend last got is stored masked by its profile: compare it so.
                wanted = {}
                for pid, backends in targets.items():
                    changed = backends.browse(
                        b.id
                        for b in backends
                        if last.get((b.id, pid)) != _comparable(_as_sent(payloads[pid], b)["partner"])
                    )
                    if changed:
                        wanted[pid] = changed
                wanted = _refresh_uncommitted_events(self.env, payloads, wanted)
                records = records.browse(list(wanted))
            if records:
                captured = _enqueue_partner_events(
                    self.env, const.EVENT_PARTNER_UPSERTED, Subjects.of(records, target), payloads, wanted
                )
                uncommitted = self.env.cr.postcommit.data.setdefault(TRANSACTION_PARTNER_JOBS, {})
                uncommitted.update({(job.backend_id.id, job.res_id): job.id for job in captured})
                jobs |= captured
        return jobs

    def _finance_sync_last_partner_blocks(self):
        """{(backend id, partner id): partner block (comparable) of the last partner.upserted each
        backend got (or will get) for these partners}."""
        if not self:
            return {}
        rows = outbox.last_events(self.env, "res.partner", self.ids, ["partner"], const.EVENT_PARTNER_UPSERTED)
        return {(bid, pid): _comparable(block) for bid, pid, _job_id, _event_type, block in rows}

    def _finance_sync_heard_of(self):
        """{partner id: master-data backends that received (or will receive) an event of it}."""
        if not self:
            return {}
        Job = self.env["finance.sync.job"].sudo()
        groups = Job._read_group(
            [
                ("res_model", "=", "res.partner"),
                ("res_id", "in", self.ids),
                ("event_type", "in", const.PARTNER_EVENT_TYPES),
                ("state", "!=", "cancelled"),
                ("backend_id.send_master_data", "=", True),
            ],
            ["res_id", "backend_id"],
        )
        heard = {}
        for res_id, backend in groups:
            heard.setdefault(res_id, self.env["finance.sync.backend"])
            heard[res_id] |= backend
        return heard

    @api.model
    def _finance_sync_partners_first(self, pairs, company):
        """Before documents go to backends, make sure each backend was (or will be) sent their
        partners: ``partner.upserted`` is captured now for the (backend, partner) pairs the
        backend has no partner event of. Called from the documents' capture, in its transaction.

        :param pairs: {(backend, commercial partner)}
        """
        if not pairs:
            return
        partners = self.browse({partner.id for _b, partner in pairs})
        known = outbox.partners_heard(self.env, partners.ids, {b.id for b, _p in pairs})
        # A platform that sent the account in this transaction knows it (the webhook's answer gives
        # it the partner's id): it is not sent back.
        echoes = self.env.cr.postcommit.data.get(TRANSACTION_ECHOES) or {}
        missing = {}
        for backend, partner in pairs:
            if (backend.id, partner.id) not in known and backend.id not in echoes.get(partner.id, ()):
                missing.setdefault(partner.id, self.env["finance.sync.backend"])
                missing[partner.id] |= backend
        if missing:
            self.browse(list(missing))._finance_sync_capture_master(missing, company=company, only_changed=False)

    # === MASTER DATA: PAYLOAD === #

    def _finance_sync_partner_payload(self, blocks, company):
        self.ensure_one()
        return {"company": blocks.company(company), "partner": self._finance_sync_partner_block(blocks)}

    def _finance_sync_partner_block(self, blocks):
        """The partner as master data (identity, addresses, bank accounts, terms, credit limit,
        ranks, active flag), in the current company's view of company-dependent fields."""
        self.ensure_one()
        partner = self.with_context(active_test=False)

        def address(contact, kind):
            return {
                "type": kind,
                "name": contact.name or None,
                "street": contact.street or None,
                "street2": contact.street2 or None,
                "zip": contact.zip or None,
                "city": contact.city or None,
                "state": contact.state_id.code or None,
                "country": contact.country_id.code or None,
            }

        children = partner.child_ids.filtered(lambda c: c.active and c.type in ADDRESS_TYPES).sorted("id")
        credit_limit = partner.sudo().credit_limit
        return {
            "id": partner.id,
            "code": partner.ref or None,
            "name": partner.name or "",
            "is_company": bool(partner.is_company),
            "company_registry": partner.company_registry or None,
            "vat": partner.vat or None,
            "country": partner.country_id.code or None,
            "ref": partner.ref or None,
            "email": partner.email or None,
            "phone": partner.phone or None,
            "addresses": [address(partner, "main")] + [address(child, child.type) for child in children],
            "bank_accounts": [
                {"number": bank.acc_number, "bank": bank.bank_id.name or None, "bic": bank.bank_id.bic or None}
                for bank in partner.bank_ids.sorted("id")
            ],
            "payment_terms": {
                "customer": blocks.ref(partner.property_payment_term_id),
                "supplier": blocks.ref(partner.property_supplier_payment_term_id),
            },
            "credit_limit": payload_lib.money(credit_limit, self.env.company.currency_id.decimal_places)
            if credit_limit
            else None,
            "customer_rank": partner.customer_rank,
            "supplier_rank": partner.supplier_rank,
            "active": bool(partner.active),
        }


class Subjects:
    """What ``_enqueue`` reads of the records an event is about, for partners: each one's id,
    the company whose view is sent (a partner's own company may be empty) and its name. A
    merged partner is gone by the time its event is captured: it is described, not browsed."""

    _name = "res.partner"

    def __init__(self, items):
        self._items = [_Subject(*item) for item in items]
        self.ids = [item.id for item in self._items]

    @classmethod
    def of(cls, records, company):
        return cls([(record.id, company, record.display_name) for record in records])

    def __iter__(self):
        return iter(self._items)


class _Subject:
    def __init__(self, res_id, company, display_name):
        self.id = res_id
        self.company_id = company
        self.display_name = display_name


def _enqueue_partner_events(env, event_type, subjects, payloads, backends_by_record, depends_on=None):
    """``finance.sync.job._enqueue`` for partner events, which two transactions may capture for
    the same partner at once (two invoices of a new customer posted side by side): the second
    one's sequence collides with the first one's, and it is retried on a fresh snapshot, where it
    sees the partner as sent."""
    # No flush: a flush runs the transaction's pre-commit hooks, which capture partner events too.
    try:
        with env.cr.savepoint(flush=False):
            return env["finance.sync.job"]._enqueue(
                event_type, subjects, payloads, backends_by_record, depends_on=depends_on
            )
    except UniqueViolation:
        raise ConcurrencyError(f"finance_sync: {event_type} captured concurrently") from None


def _without_echoes(env, backends_by_partner):
    """``backends_by_partner`` without the platforms whose accounts this transaction applied
    (inbound partner.upsert): a change is not sent back to the platform it came from."""
    echoes = env.cr.postcommit.data.get(TRANSACTION_ECHOES) or {}
    if not echoes:
        return backends_by_partner
    left = {}
    for pid, backends in backends_by_partner.items():
        rest = backends.filtered(lambda b, pid=pid: b.id not in echoes.get(pid, ()))
        if rest:
            left[pid] = rest
    return left


def _refresh_uncommitted_events(env, payloads, wanted):
    """Give the latest figures to the ``partner.upserted`` events this transaction already
    captured, rather than capturing a second one: Odoo runs the pre-commit hooks at every
    savepoint too, so one transaction may compare a partner more than once. Such an event is not
    committed, so no worker can have claimed it. Returns what is left to capture: ``wanted``
    ({partner id: backends}) without the backends whose event was refreshed."""
    uncommitted = env.cr.postcommit.data.get(TRANSACTION_PARTNER_JOBS) or {}
    pending = {
        uncommitted[(backend.id, pid)]: (pid, backend)
        for pid, backends in wanted.items()
        for backend in backends
        if (backend.id, pid) in uncommitted
    }
    if not pending:
        return wanted
    members = {
        job_id: json.dumps(_as_sent(payloads[pid], backend), ensure_ascii=False)
        for job_id, (pid, backend) in pending.items()
    }
    refreshed = outbox.refresh_payloads(env, members, ("pending",))
    left = {}
    for pid, backends in wanted.items():
        rest = backends.filtered(lambda b, pid=pid: uncommitted.get((b.id, pid)) not in refreshed)
        if rest:
            left[pid] = rest
    return left


def _as_sent(payload, backend):
    """``payload`` with its personal data masked as ``backend``'s profile masks it: what its outbox
    row keeps (``finance.sync.job._enqueue``)."""
    return profile_lib.mask_personal_data(payload, backend._get_profile())


def _normalised(block):
    """A payload block as it reads back from the outbox (JSON), for comparing."""
    return json.loads(json.dumps(block, sort_keys=True, default=str)) if block is not None else None


def _comparable(block):
    """A partner block as compared to tell whether the partner changed: as it reads back from
    the outbox, with Odoo's ranking counters reduced to whether the partner is a customer or a
    supplier at all (each posted invoice and payment counts in them; that is no news)."""
    block = _normalised(block)
    if block:
        for fname in RANK_FIELDS:
            if fname in block:
                block[fname] = bool(block[fname])
    return block


def merged_payload(company, gone, survivor):
    """Body of ``partner.merged``: ``gone`` ({id, code, name}) now lives on as ``survivor``."""
    blocks = PayloadBlocks()
    return {"company": blocks.company(company), "partner": gone, "merged_into": blocks.ref(survivor, "ref")}
