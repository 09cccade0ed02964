import { registry } from "@web/core/registry";

// An administrator opens the reconciliations, finds the period the platform disagrees with,
// reads the difference in words, sends the missing event again and sees it delivered.
registry.category("web_tour.tours").add("finance_sync_reconciliation", {
    url: "/odoo/action-finance_sync.finance_sync_reconciliation_action",
    steps: () => [
        {
            content: "The mismatched period is listed",
            trigger: ".o_list_view .o_data_row:contains('Mismatched') .o_data_cell[name='backend_id']",
            run: "click",
        },
        {
            content: "The difference is spelled out",
            trigger: ".o_form_view .alert-danger:contains('missing on the platform')",
        },
        {
            content: "Odoo's and the platform's totals side by side",
            trigger: ".o_form_view .o_field_one2many .o_data_row.text-danger:contains('Invoice posted')",
        },
        {
            content: "Send the missing event again",
            trigger: ".o_form_view button[name='action_resend_missing']",
            run: "click",
        },
        {
            content: "The event went out and was delivered",
            trigger: ".o_list_view .o_data_row:contains('Done')",
        },
    ],
});
