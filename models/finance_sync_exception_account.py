"""A *possible duplicate* exception: an account a platform sent (``partner.upsert``) may be a
partner Odoo has already, and the evidence is ambiguous. The event waits (failed) and lists the
candidates here; a Finance Sync administrator binds it to one of them or creates a new partner,
and the event is applied again with that choice (res_partner_account.py). Nothing is ever merged."""

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from .. import const
from ..utils import check_guarded_fields, internal

ADMIN_GROUP = "finance_sync.finance_sync_group_admin"
# What the module records of the match: set when the exception is raised and by the two actions.
ACCOUNT_FACT_FIELDS = {"account_candidate_ids", "account_decision"}


class FinanceSyncException(models.Model):
    _inherit = "finance.sync.exception"

    account_candidate_ids = fields.Many2many(
        "res.partner",
        "finance_sync_exception_account_candidate_rel",
        "exception_id",
        "partner_id",
        string="Possible duplicates",
        readonly=True,
        help="The partners the account the platform sent may be: same VAT number, registry number, e-mail domain "
        "or name.",
    )
    account_partner_id = fields.Many2one(
        "res.partner",
        "Partner to bind",
        domain="[('id', 'in', account_candidate_ids)]",
        help="The partner the platform's account is: Bind to this partner makes the platform's external id "
        "designate it.",
    )
    account_decision = fields.Selection(
        [("bind", "Bind to the chosen partner"), ("create", "Create a new partner")],
        "Decision",
        readonly=True,
        tracking=True,
    )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        check_guarded_fields(self, {fname for vals in vals_list for fname in vals}, ACCOUNT_FACT_FIELDS)
        return super().create(vals_list)

    def write(self, vals):
        check_guarded_fields(self, vals, ACCOUNT_FACT_FIELDS)
        return super().write(vals)

    # === ACTION METHODS === #

    def action_account_bind(self):
        """Bind the platform's account to the chosen candidate and apply the waiting event."""
        self._check_account_choice()
        for exc in self:
            if exc.account_partner_id not in exc.account_candidate_ids:
                raise UserError(self.env._("Choose the partner to bind among the possible duplicates."))
        return self._decide_account("bind")

    def action_account_create(self):
        """Create a new partner for the platform's account and apply the waiting event."""
        self._check_account_choice()
        return self._decide_account("create")

    # === BUSINESS METHODS === #

    def _check_account_choice(self):
        if not self.env.user.has_group(ADMIN_GROUP):
            raise AccessError(self.env._("Only Finance Sync administrators decide what a platform's account is."))
        self.check_access("write")
        if any(e.category != "possible_duplicate" or e.state not in const.EXCEPTION_OPEN_STATES for e in self):
            raise UserError(self.env._("Only an open possible duplicate waits for this choice."))

    def _decide_account(self, decision):
        for exc in self:
            internal(exc).write({"account_decision": decision, "state": "in_progress"})
            exc.message_post(
                body=self.env._(
                    "%(user)s decided: %(decision)s%(partner)s.",
                    user=self.env.user.name,
                    decision=dict(self._fields["account_decision"]._description_selection(self.env))[decision],
                    partner=f" ({exc.account_partner_id.display_name})" if decision == "bind" else "",
                ),
                subtype_xmlid="mail.mt_note",
            )
        events = self.inbound_event_ids.filtered(lambda e: e.state == "failed")
        if events:
            events.action_reprocess()
        return True
