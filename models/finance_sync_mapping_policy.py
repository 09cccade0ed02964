from odoo import fields, models

from .finance_sync_mapping_set import MAPPING_KINDS, POLICIES


class FinanceSyncMappingPolicy(models.Model):
    """What to send for an Odoo record of one kind that has no mapping in the set."""

    _name = "finance.sync.mapping.policy"
    _description = "Finance Sync Mapping Policy"
    _order = "set_id, kind"

    set_id = fields.Many2one("finance.sync.mapping.set", required=True, ondelete="cascade", index=True)
    kind = fields.Selection(MAPPING_KINDS, required=True)
    policy = fields.Selection(POLICIES, required=True, default="pass_through")
    default_code = fields.Char(help="Sent for unmapped records when the policy is Default value.")

    _kind_uniq = models.UniqueIndex("(set_id, kind)", "One policy per kind in a mapping set.")
