import { registry } from "@web/core/registry";

// A finance user opens a blocking exception, fixes its cause from there (the backend's token)
// and presses Retry: the job goes out and the exception resolves itself.
registry.category("web_tour.tours").add("finance_sync_fix_exception", {
    url: "/odoo/action-finance_sync.finance_sync_exception_action",
    steps: () => [
        {
            content: "Open the blocking exception",
            trigger: ".o_data_row:contains('Authentication') .o_data_cell[name='name']",
            run: "click",
        },
        {
            content: "The explanation says what happened",
            trigger: ".o_form_view .alert-info:contains('refused Odoo')",
        },
        {
            content: "Open the backend from the exception",
            trigger: ".o_field_widget[name='backend_id'] a",
            run: "click",
        },
        {
            content: "Type the right token (write-only field)",
            trigger: ".o_field_widget[name='auth_secret'] input",
            run: "edit good-token",
        },
        {
            content: "Save the backend",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Saved",
            trigger: ".o_form_saved",
        },
        {
            content: "Back to the exception",
            trigger: ".o_breadcrumb li.o_back_button a",
            run: "click",
        },
        {
            content: "Retry",
            trigger: ".o_form_view button[name='action_retry']",
            run: "click",
        },
        {
            content: "The job went out and the exception resolved itself",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains('Resolved')",
        },
    ],
});
