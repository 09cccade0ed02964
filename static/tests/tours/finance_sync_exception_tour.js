import { registry } from "@web/core/registry";

// A user opens a blocking missing-mapping exception, adds the mapping from there, sees the
// exception resolve itself, sends the released job and sees it delivered, then finds the backend
// healthy on the dashboard.
registry.category("web_tour.tours").add("finance_sync_fix_exception", {
    url: "/odoo/action-finance_sync.finance_sync_exception_action",
    steps: () => [
        {
            content: "Open the blocking exception",
            trigger: ".o_data_row:contains('Missing mapping') .o_data_cell[name='name']",
            run: "click",
        },
        {
            content: "The explanation says what happened",
            trigger: ".o_form_view .alert-info:contains('no code on this platform')",
        },
        {
            content: "Add the mapping from the exception",
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
            content: "Open the dashboard",
            trigger: ".o_main_navbar [data-menu-xmlid='finance_sync.finance_sync_dashboard_menu']",
            run: "click",
        },
        {
            content: "The backend's card shows its health: nothing pending, a last success",
            trigger: ".o_kanban_record:contains('Warehouse'):contains('Healthy'):contains('none')",
        },
    ],
});
