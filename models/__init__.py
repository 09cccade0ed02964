# isort: skip_file
# Order matters: the mixins are defined before the models that inherit them.
from . import finance_sync_document_mixin
from . import finance_sync_document_link
from . import finance_sync_mapping_set
from . import finance_sync_mapping_policy
from . import finance_sync_mapping
from . import finance_sync_backend
from . import finance_sync_backend_health
from . import finance_sync_job
from . import finance_sync_attempt
from . import finance_sync_dispatcher
from . import finance_sync_exception
from . import finance_sync_inbound_event
from . import finance_sync_binding
from . import finance_sync_external_payment
from . import account_move
from . import account_payment
from . import res_config_settings
from . import finance_sync_feed
from . import finance_sync_feed_run
