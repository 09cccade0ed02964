-- finance_sync warehouse, schema version 1: dimensions, facts and the applied events.
-- Every table is keyed by the source (the Odoo database the events come from) and Odoo's ids,
-- so that several Odoo databases can feed one warehouse. Rows are never deleted: a reset to
-- draft or a cancellation changes a status, a line or reconciliation that disappeared from its
-- document is marked is_current = false.

CREATE TABLE {schema}.dim_account (
    source text NOT NULL,
    odoo_id integer NOT NULL,
    code text,
    name text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, odoo_id)
);
CREATE TABLE {schema}.dim_journal (LIKE {schema}.dim_account INCLUDING ALL);
CREATE TABLE {schema}.dim_tax (LIKE {schema}.dim_account INCLUDING ALL);
CREATE TABLE {schema}.dim_analytic_account (LIKE {schema}.dim_account INCLUDING ALL);
CREATE TABLE {schema}.dim_company (LIKE {schema}.dim_account INCLUDING ALL, vat text, currency text);
CREATE TABLE {schema}.dim_partner (LIKE {schema}.dim_account INCLUDING ALL, vat text, country text, ref text);

CREATE TABLE {schema}.dim_currency (
    source text NOT NULL,
    code text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, code)
);

CREATE TABLE {schema}.fact_invoice (
    source text NOT NULL,
    odoo_id integer NOT NULL,
    company_id integer NOT NULL,
    partner_id integer,
    journal_id integer,
    kind text NOT NULL,
    move_type text NOT NULL,
    number text,
    date date,
    invoice_date date,
    due_date date,
    ref text,
    currency text NOT NULL,
    amount_untaxed numeric NOT NULL,
    amount_tax numeric NOT NULL,
    amount_total numeric NOT NULL,
    amount_residual numeric NOT NULL,
    amount_untaxed_company numeric,
    amount_tax_company numeric,
    amount_total_company numeric,
    amount_residual_company numeric,
    payment_state text,
    status text NOT NULL,
    reversed_entry_id integer,
    last_sequence bigint NOT NULL,
    last_event_id uuid NOT NULL,
    last_event_type text NOT NULL,
    occurred_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, odoo_id)
);
CREATE INDEX fact_invoice_partner_idx ON {schema}.fact_invoice (source, partner_id);
CREATE INDEX fact_invoice_date_idx ON {schema}.fact_invoice (invoice_date);

CREATE TABLE {schema}.fact_invoice_line (
    source text NOT NULL,
    odoo_id integer NOT NULL,
    invoice_id integer NOT NULL,
    name text,
    account_id integer,
    quantity numeric,
    price_unit numeric,
    discount numeric,
    subtotal numeric NOT NULL,
    total numeric NOT NULL,
    tax_ids integer[] NOT NULL DEFAULT '{{}}',
    analytic_distribution jsonb,
    is_current boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, odoo_id)
);
CREATE INDEX fact_invoice_line_invoice_idx ON {schema}.fact_invoice_line (source, invoice_id);

CREATE TABLE {schema}.fact_payment (
    source text NOT NULL,
    odoo_id integer NOT NULL,
    company_id integer NOT NULL,
    partner_id integer,
    journal_id integer,
    kind text NOT NULL,
    number text,
    date date,
    amount numeric NOT NULL,
    amount_company numeric,
    currency text NOT NULL,
    memo text,
    status text NOT NULL,
    is_reconciled boolean,
    last_sequence bigint NOT NULL,
    last_event_id uuid NOT NULL,
    last_event_type text NOT NULL,
    occurred_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, odoo_id)
);

CREATE TABLE {schema}.fact_reconciliation (
    source text NOT NULL,
    document_model text NOT NULL,
    document_id integer NOT NULL,
    counterpart_model text NOT NULL,
    counterpart_id integer NOT NULL,
    counterpart_number text,
    amount numeric NOT NULL,
    currency text NOT NULL,
    date date,
    is_current boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, document_model, document_id, counterpart_model, counterpart_id)
);

CREATE TABLE {schema}.sync_event (
    event_id uuid PRIMARY KEY,
    source text NOT NULL,
    type text NOT NULL,
    document_model text NOT NULL,
    document_id integer NOT NULL,
    sequence bigint NOT NULL,
    outcome text NOT NULL CHECK (outcome IN ('applied', 'skipped')),
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sync_event_document_idx ON {schema}.sync_event (source, document_model, document_id, sequence);
