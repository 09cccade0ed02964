from . import (
    account_validate_move,
    base_partner_merge_automatic_wizard,
    finance_sync_approval_override,
    finance_sync_backfill,
    finance_sync_credit_hold_override,
    finance_sync_exception_ignore,
    finance_sync_feed_send,
    finance_sync_job_cancel,
    finance_sync_preview,
    finance_sync_secret_reveal,
)
