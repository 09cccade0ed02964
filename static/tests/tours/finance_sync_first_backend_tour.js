import { registry } from "@web/core/registry";

// The platform's address, set by the test as a cookie: its receiver listens on a port of its own.
function platformUrl(path) {
    const cookie = document.cookie
        .split("; ")
        .find((item) => item.startsWith("finance_sync_platform="));
    return new URL(path, decodeURIComponent(cookie.split("=")[1])).href;
}

// An administrator connects a first platform: from the empty dashboard to a new backend, sees
// the generated signing secret once and gives it to the platform, tests the connection, then
// adds a code in the mappings list.
registry.category("web_tour.tours").add("finance_sync_first_backend", {
    url: "/odoo/action-finance_sync.finance_sync_dashboard_action",
    steps: () => [
        {
            content: "Nothing is connected yet: the dashboard says how to start",
            trigger: ".o_view_nocontent:contains('No platform connected yet')",
        },
        {
            content: "Connect a platform",
            trigger: ".o_view_nocontent a:contains('Connect a platform')",
            run: "click",
        },
        {
            content: "Name the backend",
            trigger: ".o_form_view .o_field_widget[name='name'] input",
            run: "edit Ledger platform",
        },
        {
            content: "Type the platform's address",
            trigger: ".o_form_view .o_field_widget[name='endpoint_url'] input",
            run: (helpers) => helpers.edit(platformUrl("/hook")),
        },
        {
            content: "Save",
            trigger: ".o_form_view .o_form_button_save",
            run: "click",
        },
        {
            content: "Show the signing secret Odoo generated",
            trigger: ".o_form_view button[name='action_reveal_signing_secret']",
            run: "click",
        },
        {
            content: "The secret is shown, with a warning that it will not be shown again",
            trigger: ".modal:contains('It is not shown again') .o_field_widget[name='secret']:contains('whsec_')",
            // What the person does next: copy it into the platform's settings (here, the
            // test's receiver stands for the platform).
            run: async function () {
                await fetch(platformUrl("/settings"), {
                    method: "POST",
                    mode: "no-cors",
                    body: this.anchor.textContent.trim(),
                });
            },
        },
        {
            content: "Close it once copied",
            trigger: ".modal button[name='action_done']",
            run: "click",
        },
        {
            content: "The secret cannot be shown again",
            trigger:
                "body:not(:has(.modal)) .o_form_view:not(:has(button[name='action_reveal_signing_secret'])):contains('Secret stored')",
        },
        {
            content: "Test the connection",
            trigger: ".o_form_view button[name='action_test_connection']",
            run: "click",
        },
        {
            content: "The platform answered",
            trigger: ".o_notification:contains('Connection OK'):contains('HTTP 200')",
        },
        {
            content: "Open the mappings",
            trigger: ".o_main_navbar [data-menu-xmlid='finance_sync.finance_sync_menu_config']",
            run: "click",
        },
        {
            trigger: ".dropdown-menu [data-menu-xmlid='finance_sync.finance_sync_mapping_menu']",
            run: "click",
        },
        {
            content: "Show the lines ungrouped",
            trigger: ".o_searchview .o_facet_remove",
            run: "click",
        },
        {
            content: "Add a line",
            trigger: ".o_control_panel_main_buttons .o_list_button_add",
            run: "click",
        },
        {
            content: "Choose the mapping set",
            trigger: ".o_selected_row .o_field_widget[name='set_id'] input",
            run: "edit Ledger codes",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains('Ledger codes')",
            run: "click",
        },
        {
            content: "In the one Record column, choose the kind…",
            trigger: ".o_selected_row .o_field_widget[name='record_ref'] select",
            run: "select res.partner",
        },
        {
            content: "…then the record",
            trigger: ".o_selected_row .o_field_widget[name='record_ref'] input",
            run: "edit Tour Ledger Customer",
        },
        {
            trigger: ".o-autocomplete--dropdown-item:contains('Tour Ledger Customer')",
            run: "click",
        },
        {
            content: "Type the platform's code",
            trigger: ".o_selected_row .o_field_widget[name='external_code'] input",
            run: "edit CUST-LEDGER",
        },
        {
            content: "Save the line",
            trigger: ".o_control_panel_main_buttons .o_list_button_save",
            run: "click",
        },
        {
            content: "The line reads the record and its code",
            trigger: ".o_data_row:not(.o_selected_row):contains('Tour Ledger Customer'):contains('CUST-LEDGER')",
        },
    ],
});
