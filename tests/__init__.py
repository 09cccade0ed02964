# Every test module, so that Odoo's own runner (odoo-bin --test-enable) finds them as pytest does.
# isort: skip_file
from . import test_broker
from . import test_concurrency
from . import test_delivery_sla
from . import test_dispatcher

# Every test module, so that Odoo's own runner (odoo-bin --test-enable) finds them as pytest does.
# isort: skip_file
from . import test_dispatcher_servers
from . import test_engine_backoff
from . import test_engine_budget
from . import test_engine_circuit
from . import test_engine_classify
from . import test_engine_crypto
from . import test_engine_feeds
from . import test_engine_inbound
from . import test_engine_messages
from . import test_engine_metrics
from . import test_engine_payload
from . import test_engine_redact
from . import test_engine_scheduler
from . import test_engine_sender
from . import test_engine_signing
from . import test_engine_transport
from . import test_engine_url_guard
from . import test_engine_warehouse
from . import test_exceptions
from . import test_feeds
from . import test_inbound
from . import test_inbound_documents
from . import test_i18n
from . import test_install
from . import test_loader
from . import test_mappings
from . import test_messages
from . import test_metrics
from . import test_outbound
from . import test_payment_authority
from . import test_reconciliation
from . import test_schema_patterns
from . import test_security
from . import test_tours
from . import test_warehouse
from . import test_webhook_table
from . import test_master_data
from . import test_master_data_concurrency
from . import test_credit_exposure
from . import test_credit_decisions
from . import test_readme_examples
from . import test_engine_master_data
from . import test_books
from . import test_company_isolation
from . import test_connections
from . import test_actions
from . import test_capture_privacy
from . import test_approval_override
