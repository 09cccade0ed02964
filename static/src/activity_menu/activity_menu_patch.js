import { ActivityMenu } from "@mail/core/web/activity_menu";
import { patch } from "@web/core/utils/patch";

// A to-do about one backend (Sync failing) opens that backend's form, not a list of backends.
// On a phone, the to-dos of exceptions open as cards (their list is cut off on a small screen).
patch(ActivityMenu.prototype, {
    openActivityGroup(group, filter = "all", newWindow) {
        if (group.model === "finance.sync.exception" && this.ui.isSmall && group.view_type !== "kanban") {
            return this.openActivityGroup({ ...group, view_type: "kanban" }, filter, newWindow);
        }
        const backendIds = group.finance_sync_backend_ids;
        if (group.model === "finance.sync.backend" && backendIds?.length === 1) {
            this.dropdown.close();
            this.action.doAction(
                {
                    type: "ir.actions.act_window",
                    res_model: group.model,
                    res_id: backendIds[0],
                    views: [[false, "form"]],
                },
                { newWindow, clearBreadcrumbs: true }
            );
            return;
        }
        return super.openActivityGroup(...arguments);
    },
});
