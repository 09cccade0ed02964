{
    "name": "Finance Sync",
    "summary": "Send posted invoices, credit notes and payments to BI, treasury, billing and "
    "payment platforms exactly once, with signed webhooks, an exception queue and audit trail",
    "description": " ",  # the Apps page is static/description/index.html
    "version": "19.0.1.0.0",
    "category": "Accounting/Accounting",
    "license": "LGPL-3",
    "author": "finance_sync contributors",
    "website": "https://github.com/finance-sync/finance_sync",
    "depends": ["account", "mail"],
    "external_dependencies": {"python": ["requests", "cryptography", "jsonschema"]},
    "data": [
        "security/finance_sync_groups.xml",
        "security/ir.model.access.csv",
        "security/finance_sync_security.xml",
        "views/finance_sync_mapping_views.xml",
        "views/finance_sync_preview_views.xml",
        "views/finance_sync_backend_views.xml",
        "views/finance_sync_job_views.xml",
        "views/finance_sync_exception_views.xml",
        "views/finance_sync_inbound_event_views.xml",
        "views/account_move_views.xml",
        "views/account_payment_views.xml",
        "views/res_config_settings_views.xml",
        "views/finance_sync_menus.xml",
        "data/ir_cron_data.xml",
        "data/finance_sync_inbound_data.xml",
    ],
    "demo": [
        "demo/finance_sync_demo.xml",
    ],
    "assets": {
        "web.assets_tests": ["finance_sync/static/tests/tours/**/*"],
    },
    "images": ["static/description/icon.png"],
    "application": True,
    "installable": True,
}
