import { registry } from "@web/core/registry";

// An accounting administrator opens a platform's bill that waits for approval: the bill says so,
// Confirm is not offered, Override approval refuses to post without a reason, then posts it with
// one, and the bill says it was posted before approval.
registry.category("web_tour.tours").add("finance_sync_approval_override", {
    steps: () => [
        {
            content: "The bill says it waits for the platform's approval",
            trigger: ".o_form_view .alert-warning:contains('Waiting for approval'):contains('Warehouse')",
        },
        {
            content: "Its approval state shows as a badge",
            trigger: ".o_form_view .oe_title .o_field_badge:contains('Waiting for approval')",
        },
        {
            content: "Confirm is not offered: Override approval is",
            trigger:
                ".o_form_view .o_form_statusbar:not(:has(button[name='action_post'])) button[name='action_finance_sync_override_approval']",
            run: "click",
        },
        {
            content: "Try to post without a reason",
            trigger: ".modal button[name='action_confirm']",
            run: "click",
        },
        {
            content: "The reason is required",
            trigger: ".modal .o_field_invalid[name='reason']",
        },
        {
            content: "Say why",
            trigger: ".modal .o_field_widget[name='reason'] textarea",
            run: "edit Supplier stops deliveries tomorrow, CFO agreed",
        },
        {
            content: "Post it",
            trigger: ".modal button[name='action_confirm']",
            run: "click",
        },
        {
            content: "The bill is posted, before approval, and says so",
            trigger:
                "body:not(:has(.modal)) .o_form_view .alert-info:contains('Posted before approval'):contains('fs_tour_approver')",
        },
        {
            content: "The reason is in the chatter",
            trigger: ".o-mail-Message:contains('CFO agreed')",
        },
    ],
});
