-- finance_sync warehouse, schema version 3: period feeds (trial balance, AR/AP aging, GL summary).
-- A feed run is one version of one feed's figures for one company and period, sent in numbered
-- parts (feed_run_part, one per part applied). Its rows land in the fact tables as its parts
-- arrive, but the run is complete (is_complete) only once every part has: BI reads complete runs
-- only, so a version is never seen half loaded. When a run completes, the older complete
-- versions of its period are kept and marked superseded_by the newest one; a late older version
-- is marked superseded as soon as it completes. Amounts are in the company's currency.

CREATE TABLE {schema}.feed_run (
    source text NOT NULL,
    run_id uuid NOT NULL,
    feed_id integer NOT NULL,
    feed_name text,
    kind text NOT NULL CHECK (kind IN ('trial_balance', 'ar_aging', 'ap_aging', 'gl_summary')),
    company_id integer NOT NULL,
    currency text NOT NULL,
    date_from date NOT NULL,
    date_to date NOT NULL,
    version integer NOT NULL,
    final boolean NOT NULL,
    content_hash text NOT NULL,
    supersedes_run_id uuid,
    parts integer NOT NULL CHECK (parts > 0),
    parts_received integer NOT NULL DEFAULT 0,
    row_count integer NOT NULL,
    totals jsonb,
    is_complete boolean NOT NULL DEFAULT false,
    completed_at timestamptz,
    superseded_by uuid,
    superseded_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, run_id),
    UNIQUE (source, feed_id, date_from, date_to, version),
    CHECK (parts_received <= parts)
);
CREATE INDEX feed_run_period_idx ON {schema}.feed_run (source, company_id, kind, date_to, version);

CREATE TABLE {schema}.feed_run_part (
    source text NOT NULL,
    run_id uuid NOT NULL,
    part integer NOT NULL CHECK (part > 0),
    event_id uuid NOT NULL,
    row_count integer NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, run_id, part)
);

-- Every fact row: its run's company, feed, period, version and finality, then its place in the run.
CREATE TABLE {schema}.fact_trial_balance (
    source text NOT NULL,
    company_id integer NOT NULL,
    feed_id integer NOT NULL,
    date_from date NOT NULL,
    date_to date NOT NULL,
    version integer NOT NULL,
    final boolean NOT NULL,
    run_id uuid NOT NULL,
    part integer NOT NULL,
    line integer NOT NULL,
    account_id integer,
    account_code text,
    account_name text,
    analytic jsonb,
    opening numeric NOT NULL,
    debit numeric NOT NULL,
    credit numeric NOT NULL,
    closing numeric NOT NULL,
    PRIMARY KEY (source, company_id, feed_id, date_from, date_to, version, part, line)
);
CREATE INDEX fact_trial_balance_run_idx ON {schema}.fact_trial_balance (source, run_id);

CREATE TABLE {schema}.fact_aging (
    source text NOT NULL,
    company_id integer NOT NULL,
    feed_id integer NOT NULL,
    kind text NOT NULL CHECK (kind IN ('ar_aging', 'ap_aging')),
    date_from date NOT NULL,
    date_to date NOT NULL,
    version integer NOT NULL,
    final boolean NOT NULL,
    run_id uuid NOT NULL,
    part integer NOT NULL,
    line integer NOT NULL,
    partner_id integer,
    partner_code text,
    partner_name text,
    not_due numeric NOT NULL,
    days_1_30 numeric NOT NULL,
    days_31_60 numeric NOT NULL,
    days_61_90 numeric NOT NULL,
    over_90 numeric NOT NULL,
    total numeric NOT NULL,
    PRIMARY KEY (source, company_id, feed_id, date_from, date_to, version, part, line)
);
CREATE INDEX fact_aging_run_idx ON {schema}.fact_aging (source, run_id);

CREATE TABLE {schema}.fact_gl_summary (
    source text NOT NULL,
    company_id integer NOT NULL,
    feed_id integer NOT NULL,
    date_from date NOT NULL,
    date_to date NOT NULL,
    version integer NOT NULL,
    final boolean NOT NULL,
    run_id uuid NOT NULL,
    part integer NOT NULL,
    line integer NOT NULL,
    date date NOT NULL,
    journal_id integer,
    journal_code text,
    journal_name text,
    account_id integer,
    account_code text,
    account_name text,
    debit numeric NOT NULL,
    credit numeric NOT NULL,
    line_count integer NOT NULL,
    PRIMARY KEY (source, company_id, feed_id, date_from, date_to, version, part, line)
);
CREATE INDEX fact_gl_summary_run_idx ON {schema}.fact_gl_summary (source, run_id);

-- The newest complete final version of each feed's period: what BI reads as closed figures.
CREATE VIEW {schema}.feed_run_latest_final AS
SELECT DISTINCT ON (source, feed_id, date_from, date_to) *
  FROM {schema}.feed_run
 WHERE is_complete AND final
 ORDER BY source, feed_id, date_from, date_to, version DESC;
