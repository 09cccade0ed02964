"""Documents a platform created and has not approved, as Odoo's approval-driven documents are
(a purchase *To Approve*, an expense *Submitted*): the approval state shows on the document,
*Confirm* gives way to *Override approval*, and posting one before the platform approved it
needs an accounting administrator's override with a reason.

The rule lives in ``_post`` (and a ``write`` of ``state = posted``, which Odoo accepts), where
every posting passes: the form, the list's *Confirm entries*, Odoo's auto-post cron, RPC with any
context key, code, a platform's own documents. Only the override wizard grants the override
(``utils.approval_override``: an object no context key can forge), and only to a member of
``const.APPROVAL_OVERRIDE_GROUP``; the reason and who gave it go to the document's chatter.

A platform that rejects or withdraws a document once it is posted reaches a person: a to-do on
the document for whoever can reverse it, a banner on the document, and a blocking exception.
"""

import logging

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Command
from odoo.tools.misc import format_datetime

from .. import const
from ..utils import action_result, approval_override_of, internal

_logger = logging.getLogger(__name__)

# The approval states of a platform's document that the platform has not approved.
UNAPPROVED_STATES = ("pending", "rejected", "withdrawn")
# The approval states that contradict a posted document.
CONTRADICTING_STATES = ("rejected", "withdrawn")
INBOUND_GROUP = "finance_sync.finance_sync_group_inbound"


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = "account.move"

    finance_sync_awaiting_approval = fields.Boolean(
        "Waiting for platform approval",
        compute="_compute_finance_sync_approval_display",
        help="A draft the platform that created it has not approved: only an accounting administrator may post it "
        "before, with a reason recorded in the chatter.",
    )
    finance_sync_rejected_after_posting = fields.Boolean(
        "Rejected after posting",
        compute="_compute_finance_sync_approval_display",
        help="The platform rejected or withdrew this document after it was posted, and it is not reversed.",
    )
    finance_sync_approval_platform = fields.Char("Approving platform", compute="_compute_finance_sync_approval_display")
    finance_sync_approval_since = fields.Datetime(
        "Approval state since", compute="_compute_finance_sync_approval_display"
    )
    finance_sync_approval_since_label = fields.Char(
        "Approval state since (text)", compute="_compute_finance_sync_approval_display"
    )
    finance_sync_approval_override_uid = fields.Many2one(
        "res.users", "Posted before approval by", readonly=True, copy=False, tracking=True
    )
    finance_sync_approval_override_at = fields.Datetime("Posted before approval on", readonly=True, copy=False)

    # === COMPUTE METHODS === #

    @api.depends(
        "state",
        "payment_state",
        "create_date",
        "finance_sync_approval_state",
        "finance_sync_approved_at",
        "finance_sync_origin_backend_id",
    )
    def _compute_finance_sync_approval_display(self):
        for move in self:
            approval = move.finance_sync_approval_state
            move.finance_sync_awaiting_approval = move.state == "draft" and approval in UNAPPROVED_STATES
            move.finance_sync_rejected_after_posting = (
                move.state == "posted" and approval in CONTRADICTING_STATES and move.payment_state != "reversed"
            )
            # Whoever reads the document sees the platform's name, without rights on its backend.
            move.finance_sync_approval_platform = move.finance_sync_origin_backend_id.sudo().name or False
            since = (move.finance_sync_approved_at or move.create_date) if approval else False
            move.finance_sync_approval_since = since
            # In the reader's time zone, as a sentence shows it.
            move.finance_sync_approval_since_label = (
                format_datetime(self.env, since, dt_format="short") if since else False
            )

    @api.depends("date", "auto_post", "state", "finance_sync_approval_state")
    def _compute_hide_post_button(self):
        # Confirm gives way to Override approval while the platform has not approved.
        res = super()._compute_hide_post_button()
        for move in self:
            if move.state == "draft" and move.finance_sync_approval_state in UNAPPROVED_STATES:
                move.hide_post_button = True
        return res

    # === CRUD METHODS === #

    def write(self, vals):
        if vals.get("state") == "posted":
            # Odoo lets a write post a draft outright, past _post: the approval applies there too.
            self._finance_sync_check_approval()
        return super().write(vals)

    # === ACTIONS === #

    def action_post(self):
        """Posting a document its platform has not approved asks an accounting administrator
        for a reason first (the override wizard); anyone else is told who may."""
        waiting = self._finance_sync_unapproved()
        if waiting and not approval_override_of(self.env):
            return self._finance_sync_approval_action(waiting)
        return action_result(super().action_post())

    def action_validate_moves_with_confirmation(self):
        """The list's *Confirm entries*: with unapproved platform documents among them, the
        override wizard asks for the reason before anything is posted."""
        waiting = self.filtered(lambda m: m.line_ids)._finance_sync_unapproved()
        if waiting and not approval_override_of(self.env):
            return self._finance_sync_approval_action(waiting)
        return super().action_validate_moves_with_confirmation()

    def action_finance_sync_override_approval(self):
        """*Override approval* on the form: the wizard that asks why."""
        waiting = self._finance_sync_unapproved()
        if not waiting:
            raise UserError(self.env._("Nothing to override: no draft here is waiting for a platform's approval."))
        return self._finance_sync_approval_action(waiting)

    @api.model
    def _finance_sync_approval_action(self, moves, validate_wizard=None):
        """The override wizard for ``moves`` (and the *Confirm entries* wizard to finish with),
        or a UserError saying who may override when the user may not."""
        if not self.env.user.has_group(const.APPROVAL_OVERRIDE_GROUP):
            raise UserError(self._finance_sync_unapproved_error(moves))
        context = {"default_move_ids": [Command.set(moves.ids)]}
        if validate_wizard:
            context["default_validate_wizard_id"] = validate_wizard.id
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Post before the platform's approval"),
            "res_model": "finance.sync.approval.override",
            "view_mode": "form",
            "target": "new",
            "context": context,
        }

    # === APPROVAL: every posting passes here === #

    def _finance_sync_unapproved(self):
        """The drafts among these that the platform that created them has not approved."""
        return self.filtered(lambda m: m.state == "draft" and m.finance_sync_approval_state in UNAPPROVED_STATES)

    def _finance_sync_unapproved_error(self, moves):
        states = dict(const.APPROVAL_STATES)
        return self.env._(
            "Not posted: the platform that created these documents has not approved them.\n%(documents)s\n"
            "Only an accounting administrator may post them before the platform's approval: Override approval on "
            "the document asks why and records the reason, with their name, in its chatter. Otherwise wait for the "
            "platform's approval.",
            documents="\n".join(
                f"- {move.display_name}, {move.commercial_partner_id.display_name}, "
                f"{move.currency_id.format(move.amount_total)}: "
                f"{move.finance_sync_origin_backend_id.sudo().name or '-'}, "
                f"{states.get(move.finance_sync_approval_state, move.finance_sync_approval_state)}"
                for move in moves
            ),
        )

    def _finance_sync_check_approval(self):
        """Raise UserError for documents the platform has not approved, unless an accounting
        administrator's override (``utils.approval_override``) grants the posting.
        :return: the unapproved documents among these, to record the override on once posted."""
        waiting = self._finance_sync_unapproved()
        if waiting and not (approval_override_of(self.env) and self.env.user.has_group(const.APPROVAL_OVERRIDE_GROUP)):
            raise UserError(self._finance_sync_unapproved_error(waiting))
        return waiting

    def _post(self, soft=True):
        waiting = self._finance_sync_check_approval()
        posted = super()._post(soft=soft)
        (posted & waiting)._finance_sync_note_approval_override()
        return posted

    def _finance_sync_note_approval_override(self):
        """Record on these documents, just posted before their platform approved them, who
        overrode the approval, when, and why."""
        override = approval_override_of(self.env)
        states = dict(const.APPROVAL_STATES)
        internal(self).write(
            {
                "finance_sync_approval_override_uid": self.env.user.id,
                "finance_sync_approval_override_at": fields.Datetime.now(),
            }
        )
        for move in self:
            move.message_post(
                body=Markup("%s<br/>%s")
                % (
                    self.env._(
                        "%(user)s posted this document before %(platform)s approved it (approval: %(state)s).",
                        user=self.env.user.name,
                        platform=move.finance_sync_approval_platform or "-",
                        state=states.get(move.finance_sync_approval_state, move.finance_sync_approval_state),
                    ),
                    self.env._("Reason: %s", override.reason),
                ),
                subtype_xmlid="mail.mt_note",
            )

    @api.model
    def _autopost_draft_entries(self, batch_size=100):
        """Odoo's auto-post cron: documents their platform has not approved are not posted."""
        self._finance_sync_unapproved_out_of_autopost()
        return super()._autopost_draft_entries(batch_size=batch_size)

    @api.model
    def _finance_sync_unapproved_out_of_autopost(self):
        """Take the unapproved platform documents out of the auto-post cron's queue: each stays
        draft, its auto-post is turned off (else the cron would pick it again on every run), and
        its chatter says why."""
        waiting = self.search(
            [
                ("state", "=", "draft"),
                ("date", "<=", fields.Date.context_today(self)),
                ("auto_post", "!=", "no"),
                ("finance_sync_approval_state", "in", UNAPPROVED_STATES),
            ]
        )
        labels = dict(self._fields["auto_post"]._description_selection(self.env))
        for move in waiting:
            was = labels.get(move.auto_post, move.auto_post)
            move.auto_post = "no"
            move.message_post(
                body=self.env._(
                    "Not posted automatically: %(platform)s has not approved it. Auto-post (%(was)s) was turned off. "
                    "It is posted once the platform approves it (if the backend posts approved documents), or by an "
                    "accounting administrator with Override approval and a reason.",
                    platform=move.finance_sync_approval_platform or "-",
                    was=was,
                ),
                subtype_xmlid="mail.mt_note",
            )
        if waiting:
            _logger.info("finance_sync: %s unapproved platform documents left out of auto-post", len(waiting))

    # === REJECTED AFTER POSTING === #

    def _finance_sync_note_rejected_after_posting(self, event, note):
        """The platform rejected or withdrew this posted document (``event``): a blocking
        exception, and a to-do on the document for whoever can reverse it."""
        self.ensure_one()
        event._warn(
            "approval_rejected",
            note,
            document=self,
            fingerprint_key=f"document:{self.finance_sync_origin_external_id}",
            todo=False,  # the to-do is on the document, where it is reversed
        )
        user = self._finance_sync_rejection_responsible()
        if user and not self._finance_sync_rejection_todos():
            self.sudo().activity_schedule(
                "mail.mail_activity_data_todo",
                summary=self.env._("Rejected after posting: reverse it?")[:200],
                note=str(note),
                user_id=user.id,
            )

    def _finance_sync_rejection_responsible(self):
        """Who is asked to reverse this document the platform rejected after posting: the
        backend's responsible, else whoever posted it before approval, else its salesperson or
        buyer, else the Finance Sync default responsible; the first one that is an active
        internal user of its company who may post documents (never the inbound technical user)."""
        self.ensure_one()
        fallback = self.env["finance.sync.exception"]._default_responsible()
        for candidate in (
            self.finance_sync_origin_backend_id.sudo().user_id,
            self.finance_sync_approval_override_uid,
            self.invoice_user_id,
            fallback,
        ):
            user = candidate.sudo()
            if (
                user
                and user.active
                and not user.share
                and self.company_id in user.company_ids
                and user.has_group("account.group_account_invoice")
                and not user.has_group(INBOUND_GROUP)
            ):
                return user
        return self.env["res.users"]

    def _finance_sync_rejection_todos(self):
        summary = self.env._("Rejected after posting: reverse it?")
        return self.sudo().activity_ids.filtered(lambda a: a.summary == summary)

    def _finance_sync_settle_rejection(self, reason):
        """The platform approves this document again, or it was reversed: its rejection needs
        nobody any more (its to-do is done, its exception resolved)."""
        for move in self:
            move._finance_sync_rejection_todos().action_feedback(feedback=reason)
        for exc in self._finance_sync_open_exceptions("approval_rejected"):
            exc._close("resolved")
            exc.message_post(body=reason)
