import { registry } from "@web/core/registry";

// The platform rejected a bill after it was posted: its responsible finds the to-do in the
// activities menu, opens the bill, reads the banner (what happened, what to do), checks that
// and that reversing it is one click away.
registry.category("web_tour.tours").add("finance_sync_approval_rejected", {
    steps: () => [
        {
            content: "A to-do is waiting",
            trigger: ".o_menu_systray .o-mail-ActivityMenu-counter",
            run: "click",
        },
        {
            content: "It is about a bill",
            trigger: ".o-mail-ActivityGroup:contains('Journal Entry')",
            run: "click",
        },
        {
            content: "Open the bill",
            trigger:
                ".o_data_row:contains('Rejected') .o_data_cell[name='name'], .o_kanban_record:contains('Tour Rejected Supplier')",
            run: "click",
        },
        {
            content: "The bill says the platform rejected it after posting, who did, and what to do",
            trigger:
                ".o_form_view .alert-danger:contains('Rejected after posting'):contains('Sam Controller'):contains('reverse it')",
        },
        {
            content: "Reversing it is one click away",
            trigger: ".o_form_view .alert-danger button[name='action_reverse']",
            run: "click",
        },
        {
            content: "Odoo's reversal opens",
            trigger: ".modal button[name='refund_moves']",
        },
        {
            content: "Not now: the platform is asked first",
            trigger: ".modal .modal-footer button:contains('Discard')",
            run: "click",
        },
        {
            content: "The to-do is on the bill",
            trigger: "body:not(:has(.modal)) .o_form_view .o-mail-Activity:contains('Rejected after posting')",
        },
    ],
});
