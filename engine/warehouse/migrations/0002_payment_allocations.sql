-- finance_sync warehouse, schema version 2: what each payment settles.
-- One row per payment and document it settles (an invoice, bill or credit note Odoo counts as
-- reconciled with the payment), with the part of the payment applied to it in the payment's
-- currency, the document's and the company's, from the payment's last event (payment.posted,
-- payment.updated, ...). A document the payment no longer settles is marked is_current = false.

CREATE TABLE {schema}.fact_payment_allocation (
    source text NOT NULL,
    payment_id integer NOT NULL,
    invoice_id integer NOT NULL,
    invoice_number text,
    amount numeric,
    currency text NOT NULL,
    invoice_amount numeric,
    invoice_currency text,
    amount_company numeric,
    is_current boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, payment_id, invoice_id)
);
CREATE INDEX fact_payment_allocation_invoice_idx ON {schema}.fact_payment_allocation (source, invoice_id);
