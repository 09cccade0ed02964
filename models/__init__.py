from . import finance_sync_backend
