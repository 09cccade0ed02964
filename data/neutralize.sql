-- A neutralized copy of the database must never talk to production platforms:
-- pause every backend and forget every credential.
UPDATE finance_sync_backend
   SET state = 'paused',
       auth_secret_encrypted = NULL,
       signing_secret_encrypted = NULL,
       signing_secret_previous_encrypted = NULL,
       warehouse_password_encrypted = NULL,
       broker_password_encrypted = NULL;
-- and the bearer token of the metrics endpoint.
DELETE FROM ir_config_parameter WHERE key = 'finance_sync.metrics_token_encrypted';
