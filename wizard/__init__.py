from . import (
    finance_sync_backfill,
    finance_sync_exception_ignore,
    finance_sync_feed_send,
    finance_sync_job_cancel,
    finance_sync_preview,
    finance_sync_secret_reveal,
)
