from odoo import api, models

# Bank account fields a partner.upserted event carries.
BANK_FIELDS = frozenset({"acc_number", "bank_id", "partner_id", "active"})


class ResPartnerBank(models.Model):
    _inherit = "res.partner.bank"

    # A partner's bank accounts are part of its master data: their changes are the partner's.

    @api.model_create_multi
    def create(self, vals_list):
        partner_ids = [vals["partner_id"] for vals in vals_list if vals.get("partner_id")]
        self.env["res.partner"].browse(partner_ids).commercial_partner_id._finance_sync_note_change()
        return super().create(vals_list)

    def write(self, vals):
        if not BANK_FIELDS & vals.keys():
            return super().write(vals)
        partners = self.partner_id
        if vals.get("partner_id"):  # an account moved to another partner: noted before the move too
            partners |= self.env["res.partner"].browse(vals["partner_id"])
        partners.commercial_partner_id._finance_sync_note_change()
        res = super().write(vals)
        (self.partner_id.commercial_partner_id - partners.commercial_partner_id)._finance_sync_note_change(new=True)
        return res

    def unlink(self):
        self.partner_id.commercial_partner_id._finance_sync_note_change()
        return super().unlink()
