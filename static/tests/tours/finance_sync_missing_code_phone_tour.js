import { registry } from "@web/core/registry";

// On a phone, the to-do of an exception opens the exceptions as cards, and the card opens the
// exception with its explanation first.
registry.category("web_tour.tours").add("finance_sync_missing_code_phone", {
    url: "/odoo",
    steps: () => [
        {
            content: "A to-do is waiting",
            trigger: ".o_menu_systray .o-mail-ActivityMenu-counter",
            run: "click",
        },
        {
            content: "It is about a sync exception",
            trigger: ".o-mail-ActivityGroup:contains('Finance Sync Exception')",
            run: "click",
        },
        {
            content: "The exceptions show as cards, not as a cut-off list",
            trigger: ".o_kanban_view .o_kanban_record:contains('Missing mapping')",
            run: "click",
        },
        {
            content: "The explanation comes first",
            trigger: ".o_form_view .alert-info:contains('no code on this platform')",
        },
    ],
});
