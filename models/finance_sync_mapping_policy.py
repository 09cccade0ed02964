from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..engine.mapping import MAPPING_KINDS, POLICIES
from ..utils import check_access_after_move


class FinanceSyncMappingPolicy(models.Model):
    """What to send for an Odoo record of one kind that has no mapping in the set. A policy belongs
    to its set's companies (record rule ``finance_sync_mapping_policy_rule_company``)."""

    _name = "finance.sync.mapping.policy"
    _description = "Finance Sync Mapping Policy"
    _order = "set_id, kind"

    set_id = fields.Many2one("finance.sync.mapping.set", required=True, ondelete="cascade", index=True)
    kind = fields.Selection(MAPPING_KINDS, required=True)
    policy = fields.Selection(POLICIES, required=True, default="pass_through")
    default_code = fields.Char(
        string="Default code", help="Sent for unmapped records when the policy is Default value."
    )

    _kind_uniq = models.UniqueIndex("(set_id, kind)", "One policy per kind in a mapping set.")

    @api.constrains("policy", "default_code")
    def _check_default_code(self):
        for policy in self:
            if policy.policy == "default" and not (policy.default_code or "").strip():
                raise ValidationError(
                    self.env._("The %s policy sends a default value: enter the default code.", policy._kind_label())
                )

    @api.model_create_multi
    def create(self, vals_list):
        default = self.default_get(["set_id"]).get("set_id")  # a context default counts as given
        set_ids = {vals.get("set_id", default) for vals in vals_list} - {None, False}
        self.env["finance.sync.mapping.set"].browse(list(set_ids))._check_authority_rights()
        policies = super().create(vals_list)
        for policy in policies.filtered(lambda p: p.set_id.sudo().backend_ids):
            policy.set_id.message_post(
                body=self.env._("Policy for %(kind)s: %(new)s", kind=policy._kind_label(), new=policy._label())
            )
        return policies

    def write(self, vals):
        (self.set_id | self.env["finance.sync.mapping.set"].browse(vals.get("set_id") or []))._check_authority_rights()
        before = {p.id: (p.policy, p.default_code) for p in self}
        res = super().write(vals)
        check_access_after_move(self, vals, ("set_id",))  # into another company's set
        labels = dict(POLICIES)
        for policy in self:
            old_policy, old_code = before[policy.id]
            if (old_policy, old_code) == (policy.policy, policy.default_code):
                continue
            policy.set_id.message_post(
                body=self.env._(
                    "Policy for %(kind)s: %(old)s → %(new)s",
                    kind=policy._kind_label(),
                    old=labels[old_policy] + (f" ({old_code})" if old_policy == "default" and old_code else ""),
                    new=labels[policy.policy]
                    + (f" ({policy.default_code})" if policy.policy == "default" and policy.default_code else ""),
                )
            )
        # Records of a kind that is no longer required need no mapping: send what they held back.
        for policy in self.filtered(lambda p: before[p.id][0] == "required" and p.policy != "required"):
            self.env["finance.sync.mapping"]._release_held_jobs(
                [
                    ("backend_id", "in", policy.set_id.sudo().backend_ids.ids),
                    ("mapping_kind", "=", policy.kind),
                ],
                reason=self.env._(
                    "Resolved: %s no longer requires a mapping; the held documents are queued again.",
                    policy._kind_label(),
                ),
            )
        return res

    def unlink(self):
        self.set_id._check_authority_rights()
        for policy in self:
            policy.set_id.message_post(
                body=self.env._("Policy for %(kind)s removed: %(old)s", kind=policy._kind_label(), old=policy._label())
            )
        return super().unlink()

    def _label(self):
        label = dict(POLICIES)[self.policy]
        return label + (f" ({self.default_code})" if self.policy == "default" and self.default_code else "")

    def _kind_label(self):
        return dict(MAPPING_KINDS).get(self.kind, self.kind or "")
