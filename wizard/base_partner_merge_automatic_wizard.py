from odoo import fields, models

from .. import const
from ..engine.messages import message
from ..models.res_partner import Subjects, merged_payload


class BasePartnerMergeAutomaticWizard(models.TransientModel):
    _inherit = "base.partner.merge.automatic.wizard"

    def _merge(self, partner_ids, dst_partner=None, extra_checks=True):
        """Master data: each platform that knew a merged partner hears that it now lives on as
        the surviving one (``partner.merged``), after the surviving partner itself, as the merge
        left it (addresses, bank accounts and values taken over from the merged partners)."""
        partners = self.env["res.partner"].browse(partner_ids).exists().sudo()
        heard = partners._finance_sync_heard_of()
        described = {p.id: {"id": p.id, "code": p.ref or None, "name": p.name or ""} for p in partners}
        companies = {p.id: p.company_id for p in partners}
        # The merge moves contacts and references in SQL: compare the survivor with how it was
        # before, whichever partner survives.
        partners.commercial_partner_id._finance_sync_note_change()
        res = super()._merge(partner_ids, dst_partner=dst_partner, extra_checks=extra_checks)
        survivor = partners.exists()
        gone = set(described) - set(survivor.ids)
        if gone:
            # The merged partners' exposure is now the survivor's: theirs is no longer news.
            waiting = (
                self.env["finance.sync.job"]
                .sudo()
                .search(
                    [
                        ("res_model", "=", "res.partner"),
                        ("res_id", "in", list(gone)),
                        ("event_type", "=", const.EVENT_PARTNER_EXPOSURE),
                        ("state", "in", const.JOB_OPEN_STATES),
                    ]
                )
            )
            if waiting:
                waiting._mark_cancelled(
                    message(
                        "job_cancelled",
                        user=self.env.user.name,
                        date=str(fields.Datetime.now()),
                        reason=self.env._("partner merged into %s", survivor.display_name),
                    )
                )
            survivor._finance_sync_note_exposure()
        if len(survivor) == 1 and gone:
            # The survivor's own changes go first, then the merge that names it.
            survivor._finance_sync_flush_partners(ids=survivor.commercial_partner_id.ids)
            for gone_id in gone:
                for backend in heard.get(gone_id, ()):
                    company = companies[gone_id] or survivor.company_id or backend.company_ids[:1]
                    self.env["res.partner"]._finance_sync_partners_first({(backend, survivor)}, company)
                    self.env["finance.sync.job"]._enqueue(
                        const.EVENT_PARTNER_MERGED,
                        Subjects([(gone_id, company, described[gone_id]["name"])]),
                        {gone_id: merged_payload(company, described[gone_id], survivor.with_company(company))},
                        {gone_id: backend},
                        depends_on={(gone_id, backend.id): survivor.id},
                    )
        return res
