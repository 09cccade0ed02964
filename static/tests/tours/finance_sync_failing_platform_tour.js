import { registry } from "@web/core/registry";

// A finance user whose platform is down (nothing listens at its address): the new invoice says
// it waits, why, when Odoo tries again and what to do; the Sync failing to-do opens the backend,
// which keeps its Test ribbon and explains the failure at the top of its form.
registry.category("web_tour.tours").add("finance_sync_failing_platform", {
    steps: () => [
        {
            content: "The invoice waits for the platform, with the cause and the next try",
            trigger:
                ".o_form_view .alert-info.o_finance_sync_waiting:contains('Sync waiting'):contains('connection refused on 127.0.0.1'):contains('Next automatic try')",
        },
        {
            content: "It is a waiting state, not an error",
            trigger: ".o_form_view:not(:has(.alert-danger:contains('Sync failed')))",
        },
        {
            content: "A to-do is waiting",
            trigger: ".o_menu_systray .o-mail-ActivityMenu-counter",
            run: "click",
        },
        {
            content: "It is about a backend",
            trigger: ".o-mail-ActivityGroup:contains('Finance Sync Backend')",
            run: "click",
        },
        {
            content: "It opens the failing backend's own form",
            trigger: ".o_breadcrumb:contains('Warehouse'):not(:contains('Finance Sync Backend'))",
        },
        {
            content: "The backend keeps its environment's ribbon",
            trigger: ".o_form_view .ribbon:contains('Test')",
        },
        {
            content: "And says why it fails and what to do",
            trigger: ".o_form_view .o_finance_sync_failing:contains('connection refused on 127.0.0.1'):contains('Nothing is lost')",
        },
    ],
});
