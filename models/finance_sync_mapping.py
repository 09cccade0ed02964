from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.fields import Domain

from .. import const
from ..engine.mapping import KIND_FIELDS, MAPPING_KINDS, RUNTIME_MODEL_KINDS
from ..utils import MAPPING_SUMMARY, check_access_after_move, switched_on

RECORD_FIELDS = tuple(field for field, _model in KIND_FIELDS.values())
# Each kind maps records of its own model: the model of a Record says its kind.
MODEL_KINDS = {model: kind for kind, (_field, model) in KIND_FIELDS.items()}
# Changing one of these may give a held document the code it waits for.
RELEASE_FIELDS = {"kind", "external_code", *RECORD_FIELDS}


class FinanceSyncMapping(models.Model):
    """One Odoo record and the code a platform knows it by."""

    _name = "finance.sync.mapping"
    _description = "Finance Sync Mapping"
    _order = "set_id, kind, id"

    # === FIELDS === #

    set_id = fields.Many2one("finance.sync.mapping.set", "Mapping set", required=True, ondelete="cascade", index=True)
    kind = fields.Selection(MAPPING_KINDS, required=True)
    # One column per kind: imports (CSV/XLSX) then take names or external ids, as everywhere in Odoo.
    account_id = fields.Many2one("account.account", ondelete="cascade")
    tax_id = fields.Many2one("account.tax", ondelete="cascade")
    journal_id = fields.Many2one("account.journal", ondelete="cascade")
    partner_id = fields.Many2one("res.partner", ondelete="cascade")
    currency_id = fields.Many2one("res.currency", ondelete="cascade")
    analytic_account_id = fields.Many2one("account.analytic.account", ondelete="cascade")
    mapped_company_id = fields.Many2one("res.company", "Company (mapped)", ondelete="cascade")
    payment_method_line_id = fields.Many2one("account.payment.method.line", ondelete="cascade")
    payment_term_id = fields.Many2one("account.payment.term", ondelete="cascade")
    partner_category_id = fields.Many2one("res.partner.category", "Partner tag", ondelete="cascade")
    mapped_user_id = fields.Many2one("res.users", "Salesperson", ondelete="cascade", domain=[("share", "=", False)])
    # crm.team is Sales' model: the team's id, never a Many2one (see engine.mapping.RUNTIME_MODEL_KINDS).
    sales_team_res_id = fields.Integer("Sales team ID", help="The id of the sales team (Sales app).")
    res_id = fields.Integer("Record ID", compute="_compute_res_id", store=True, index=True)
    record_name = fields.Char("Odoo record", compute="_compute_res_id", store=True)
    # The record whatever its kind, in one column of the list: create() and write() store it as
    # the kind and that kind's field (what is searched, imported and tracked).
    record_ref = fields.Reference(
        "_selection_record_ref",
        "Record",
        compute="_compute_record_ref",
        readonly=False,
        help="The Odoo record the platform's code stands for: choose its kind, then the record.",
    )
    external_code = fields.Char(
        string="External code", help="The code the platform uses. Empty: a draft line to fill in."
    )
    label = fields.Char()
    is_missing = fields.Boolean("Code missing", compute="_compute_is_missing", store=True)

    # === CONSTRAINTS AND INDEXES === #

    _record_uniq = models.UniqueIndex("(set_id, kind, res_id)", "This record is mapped already in this set.")

    # === COMPUTE METHODS === #

    @api.depends(*RECORD_FIELDS, "kind")
    def _compute_res_id(self):
        for mapping in self:
            if mapping.kind in RUNTIME_MODEL_KINDS:
                # Computed when the line is written (its model is there then, see _check_record).
                mapping.res_id = mapping[KIND_FIELDS[mapping.kind][0]]
                record = mapping._get_record()
                mapping.record_name = record.sudo().display_name if record else False
                continue
            record = mapping[KIND_FIELDS[mapping.kind][0]] if mapping.kind else None
            mapping.res_id = record.id if record else 0
            mapping.record_name = record.display_name if record else False

    @api.model
    def _selection_record_ref(self):
        # A kind whose model is not in the registry (Sales teams without Sales) is not offered.
        labels = dict(self._fields["kind"]._description_selection(self.env))
        return [(model, labels[kind]) for kind, (_field, model) in KIND_FIELDS.items() if model in self.env]

    @api.depends(*RECORD_FIELDS, "kind")
    def _compute_record_ref(self):
        for mapping in self:
            mapping.record_ref = mapping._get_record() or False

    @api.depends("kind", "record_name", "external_code")
    def _compute_display_name(self):
        # Without a name field, Odoo would say "finance.sync.mapping,NewId_0x…" of a new line.
        for mapping in self:
            parts = [part for part in (mapping.record_name, (mapping.external_code or "").strip()) if part]
            if mapping.kind:
                parts.insert(0, mapping._kind_label())
            mapping.display_name = " · ".join(parts) if parts else self.env._("New mapping")

    @api.depends("external_code")
    def _compute_is_missing(self):
        for mapping in self:
            mapping.is_missing = not (mapping.external_code or "").strip()

    # === CONSTRAINT METHODS === #

    @api.constrains("kind", "res_id")
    def _check_record(self):
        for mapping in self:
            if not mapping.res_id:
                raise ValidationError(
                    self.env._("Mapping of kind %s needs its Odoo record.", dict(MAPPING_KINDS)[mapping.kind])
                )
            if mapping.kind in RUNTIME_MODEL_KINDS:
                if not self._kind_available(mapping.kind):
                    raise ValidationError(
                        self.env._("%s mappings need Odoo's Sales app, which is not installed.", mapping._kind_label())
                    )
                if not mapping._get_record():
                    raise ValidationError(
                        self.env._("%(kind)s %(id)s does not exist.", kind=mapping._kind_label(), id=mapping.res_id)
                    )

    # === CRUD METHODS === #

    @api.model
    def get_import_templates(self):
        return [
            {
                "label": self.env._("Import template for mappings"),
                "template": "/finance_sync/static/import/finance_sync_mapping_template.csv",
            }
        ]

    @api.model_create_multi
    def create(self, vals_list):
        vals_list = [self._prepare_record_vals(vals) for vals in vals_list]
        for vals in vals_list:
            if vals.get("external_code"):
                vals["external_code"] = vals["external_code"].strip()
        # A line with a code in a set an authority reads is accounting configuration; a draft line
        # (no code yet, as Find unmapped adds) resolves nothing until its code is written.
        # Context defaults (default_set_id, default_external_code) count as given.
        defaults = self.default_get(["set_id", "external_code"])
        coded = [defaults | vals for vals in vals_list]
        coded_sets = {vals.get("set_id") for vals in coded if (vals.get("external_code") or "").strip()}
        self.env["finance.sync.mapping.set"].browse([s for s in coded_sets if s])._check_authority_rights()
        # A line for a record that already has a draft line in the set (Find unmapped drafts
        # them) completes that draft instead of colliding with it: imports fill drafts in.
        drafts = self._drafts_for(vals_list)
        completed = {}
        for index, vals in enumerate(vals_list):
            draft = drafts.get(self._line_key(vals))
            if draft and vals.get("external_code"):
                draft.write({key: vals[key] for key in ("external_code", "label") if key in vals})
                completed[index] = draft
        created = super().create([vals for index, vals in enumerate(vals_list) if index not in completed])
        if completed:
            created_iter = iter(created)
            created = self.browse(
                (completed[index] if index in completed else next(created_iter)).id for index in range(len(vals_list))
            )
        mappings = created - self.browse(draft.id for draft in completed.values())
        # Callers creating lines in bulk (Find unmapped) post their own summary.
        if not switched_on(self.env, MAPPING_SUMMARY):
            mappings._post_to_sets(self.env._("Mapping added: %(kind)s %(record)s → %(code)s"))
        mappings._release_held_jobs()
        return created

    @api.model
    def _prepare_record_vals(self, vals):
        """``vals`` with a Record (``record_ref``: a record or ``"model,id"``) given as the kind
        of its model and that kind's field, the other kinds' fields emptied."""
        if "record_ref" not in vals:
            return vals
        vals = dict(vals)
        field = self._fields["record_ref"]  # its conversion refuses a model that is not mapped
        record = field.convert_to_record(field.convert_to_cache(vals.pop("record_ref"), self), self)
        vals.update(dict.fromkeys(RECORD_FIELDS, False))
        if record:
            kind = MODEL_KINDS[record._name]
            vals.update({"kind": kind, KIND_FIELDS[kind][0]: record.id})
        return vals

    def _line_key(self, vals):
        """(set, kind, record id) a line's values (or the context's defaults) designate, or None."""
        context = self.env.context
        set_id = vals.get("set_id") or context.get("default_set_id")
        kind = vals.get("kind") or context.get("default_kind")
        if not (set_id and kind in KIND_FIELDS):
            return None
        field = KIND_FIELDS[kind][0]
        return set_id, kind, vals.get(field) or context.get(f"default_{field}")

    def _drafts_for(self, vals_list):
        """{(set, kind, record id): draft line} among the lines ``vals_list`` designate."""
        keys = {key for key in map(self._line_key, vals_list) if key and key[2]}
        if not keys:
            return {}
        lines = self.search(
            [
                ("set_id", "in", list({key[0] for key in keys})),
                ("is_missing", "=", True),
                ("res_id", "in", list({key[2] for key in keys})),
            ]
        )
        return {key: line for line in lines if (key := (line.set_id.id, line.kind, line.res_id)) in keys}

    def write(self, vals):
        self._check_authority_rights(vals.get("set_id"))
        vals = self._prepare_record_vals(vals)
        if vals.get("external_code"):
            vals["external_code"] = vals["external_code"].strip()
        tracked = ("record_name", "external_code", "label")
        before = {m.id: {f: m[f] for f in tracked} for m in self}
        res = super().write(vals)
        check_access_after_move(self, vals, ("set_id",))  # into another company's set
        for mapping_set, lines in self.grouped("set_id").items():
            changes = []
            for line in lines:
                old, new = before[line.id], {f: line[f] for f in tracked}
                diff = [
                    self.env._(
                        "%(field)s: %(old)s → %(new)s",
                        field=self._fields[f].string,
                        old=old[f] or "—",
                        new=new[f] or "—",
                    )
                    for f in tracked
                    if old[f] != new[f]
                ]
                if diff:
                    changes.append(
                        self.env._(
                            "Mapping changed: %(kind)s %(record)s: %(diff)s",
                            kind=line._kind_label(),
                            record=line.record_name,
                            diff="; ".join(diff),
                        )
                    )
            if changes:
                # The set's history is written for whoever edits its lines (mapping editors
                # may not configure the set itself); the author stays that person.
                mapping_set.sudo().message_post(body=Markup("<br/>").join(changes))
        if RELEASE_FIELDS & set(vals):
            self._release_held_jobs()
        return res

    def unlink(self):
        self._check_authority_rights()
        self._post_to_sets(self.env._("Mapping removed: %(kind)s %(record)s (%(code)s)"))
        return super().unlink()

    def _check_authority_rights(self, set_id=None):
        """Raise AccessError unless the user may change these lines (and move them to set
        ``set_id``): see ``finance.sync.mapping.set._check_authority_rights``."""
        sets = self.set_id | self.env["finance.sync.mapping.set"].browse(set_id or [])
        sets._check_authority_rights()

    def _post_to_sets(self, template):
        """One chatter message per set listing these lines with ``template`` (kind, record, code)."""
        for mapping_set, lines in self.grouped("set_id").items():
            mapping_set.sudo().message_post(  # as in write(): the author stays the editor
                body=Markup("<br/>").join(
                    template
                    % {"kind": line._kind_label(), "record": line.record_name, "code": line.external_code or "—"}
                    for line in lines
                )
            )

    # === BUSINESS METHODS === #

    def _kind_label(self):
        return dict(MAPPING_KINDS).get(self.kind, self.kind or "")

    @api.model
    def _kind_available(self, kind):
        """Whether lines of ``kind`` can be made: its model is in the registry (a Sales team
        needs Odoo's Sales app)."""
        return KIND_FIELDS[kind][1] in self.env

    def _get_record(self):
        """The Odoo record of this line (empty when it is gone, or its model is not installed)."""
        self.ensure_one()
        if not self.kind:
            return None
        field, model = KIND_FIELDS[self.kind]
        if self.kind not in RUNTIME_MODEL_KINDS:
            return self[field]
        if not self._kind_available(self.kind):
            return None
        return self.env[model].sudo().with_context(active_test=False).browse(self[field]).exists().sudo(self.env.su)

    def _release_held_jobs(self, exception_domain=None, resolve=True, reason=None):
        """Release, without anyone pressing retry, the jobs held back for want of a mapping.

        Those are the blocked jobs of the missing-mapping exceptions in ``exception_domain``, or,
        without one, of the exceptions these (complete) mappings answer. They become due now and
        the dispatcher is woken (after commit), so nothing is sent from inside this transaction
        (an import's dry run sends nothing either). With ``resolve``, those exceptions close at
        once (their mapping exists now, or is no longer required).

        A job still held by another open missing mapping stays blocked: sending it would only
        block it again. Jobs are re-rendered on dispatch, so one still lacking a code is held
        again rather than sent with a wrong one.
        """
        if exception_domain is None:
            exception_domain = Domain.OR(
                Domain("backend_id", "in", m.set_id.sudo().backend_ids.ids)
                & Domain("mapping_kind", "=", m.kind)
                & Domain("mapping_res_id", "=", m.res_id)
                for m in self.filtered(lambda m: not m.is_missing and m.res_id and m.set_id.sudo().backend_ids)
            )
            if exception_domain.is_false():
                return self.env["finance.sync.job"]
        exceptions = (
            self.env["finance.sync.exception"]
            .sudo()
            .search(Domain(exception_domain) & Domain("category", "=", "missing_mapping"))
        )
        answered = exceptions.filtered(lambda e: e.state in const.EXCEPTION_OPEN_STATES)
        jobs = exceptions.job_ids.filtered(
            lambda job: (
                job.state == "blocked"
                and not (
                    job.exception_ids.filtered(
                        lambda e: e.category == "missing_mapping" and e.state in const.EXCEPTION_OPEN_STATES
                    )
                    - answered
                )
            )
        )
        if resolve and answered:
            answered._close("resolved")
            for exception in answered:
                exception.message_post(
                    body=reason or self.env._("Resolved: the mapping exists now; the held documents are queued again.")
                )
        if jobs:
            jobs._mark_pending()
        return jobs
