import { registry } from "@web/core/registry";

// A finance user who may edit mappings gets the to-do of an invoice held for a missing code:
// opens it from the activities menu, sees the invoice's banner, adds the code from the
// exception, sends the released event, finds the invoice synced without a banner and the
// backend healthy on the dashboard.
registry.category("web_tour.tours").add("finance_sync_missing_code", {
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
            content: "Open the exception",
            trigger: ".o_data_row:contains('Missing mapping') .o_data_cell[name='name']",
            run: "click",
        },
        {
            content: "The explanation says what happened",
            trigger: ".o_form_view .alert-info:contains('no code on this platform')",
        },
        {
            content: "Look at the invoice it holds",
            trigger: ".o_form_view button[name='action_open_document']",
            run: "click",
        },
        {
            content: "The invoice says it is held, and why",
            trigger: ".o_form_view .alert-warning:contains('Sync held'):contains('Tour Held Customer')",
        },
        {
            content: "Open the exception from the banner",
            trigger: ".o_form_view .alert-warning button[name='action_finance_sync_open_problems']",
            run: "click",
        },
        {
            content: "Add the missing code from the exception",
            trigger: ".o_form_view button[name='action_add_mapping']",
            run: "click",
        },
        {
            content: "Type the platform's code",
            trigger: ".modal .o_field_widget[name='external_code'] input",
            run: "edit CUST-TOUR",
        },
        {
            content: "Save the mapping",
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            content: "The exception resolved itself",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains('Resolved')",
        },
        {
            content: "Open the released job",
            trigger: ".o_form_view button[name='action_view_jobs']",
            run: "click",
        },
        {
            content: "The job is queued again",
            trigger: ".o_data_row:contains('Pending') .o_data_cell[name='event_type']",
            run: "click",
        },
        {
            content: "Send it now rather than wait for the scheduler",
            trigger: ".o_form_view button[name='action_send_now']",
            run: "click",
        },
        {
            content: "The job went out",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains('Done')",
        },
        {
            content: "Back to the invoice",
            trigger: ".o_form_view button[name='action_open_document']",
            run: "click",
        },
        {
            content: "The invoice is synced and its banner gone",
            trigger:
                ".o_form_view:has(button[name='action_finance_sync_jobs']:contains('Synced')):not(:has(.alert-warning:contains('Sync held'))):not(:has(.alert-danger:contains('Sync failed')))",
        },
        {
            content: "Open Finance Sync: its dashboard comes first",
            trigger: ".o_main_navbar .o_navbar_apps_menu button",
            run: "click",
        },
        {
            trigger: ".dropdown-item[data-menu-xmlid='finance_sync.finance_sync_menu_root']",
            run: "click",
        },
        {
            content: "The backend's card shows its health: nothing pending, a last success",
            trigger: ".o_kanban_record:contains('Warehouse'):contains('Healthy'):contains('none')",
        },
    ],
});
