"""Exceptions about a missing mapping keep the kind and the record in fields of their own
(``mapping_kind``, ``mapping_res_id``) instead of only inside their fingerprint: fill them from
the fingerprint of the existing ones (``<backend>|missing_mapping|mapping:<kind>:<id>``), the
last time it is read.

Inbound events link their document like jobs and exceptions do (``res_model``, ``res_id``
beside ``move_id``/``payment_id``): fill the reference of the existing ones from their invoice,
else their payment.

Messages are stored as a code and parameters and rendered in the reader's language
(``engine/messages.py``): the sentences stored so far, in whatever language they were written,
are kept as they are, as the detail of a message without a code, and their columns go (the
fields of those names are computed now)."""

from odoo.tools import SQL, sql

# (table, column of a stored sentence): the column is also the prefix of its code and parameters
MESSAGE_COLUMNS = (
    ("finance_sync_job", "last_error"),
    ("finance_sync_job", "cancel_reason"),
    ("finance_sync_attempt", "error"),
    ("finance_sync_exception", "message"),
    ("finance_sync_inbound_event", "result_message"),
)


def migrate(cr, version):
    cr.execute(
        r"""UPDATE finance_sync_exception
               SET mapping_kind = split_part(split_part(fingerprint, '|', 3), ':', 2),
                   mapping_res_id = split_part(split_part(fingerprint, '|', 3), ':', 3)::integer
             WHERE category = 'missing_mapping'
               AND mapping_kind IS NULL
               AND split_part(fingerprint, '|', 3) ~ '^mapping:[a-z_]+:[0-9]+$'"""
    )
    cr.execute(
        """UPDATE finance_sync_inbound_event
              SET res_model = CASE WHEN move_id IS NOT NULL THEN 'account.move' ELSE 'account.payment' END,
                  res_id = COALESCE(move_id, payment_id)
            WHERE res_model IS NULL AND (move_id IS NOT NULL OR payment_id IS NOT NULL)"""
    )
    for table, column in MESSAGE_COLUMNS:
        if not sql.column_exists(cr, table, column):
            continue
        cr.execute(
            SQL(
                """UPDATE %(table)s SET %(params)s = jsonb_build_object('detail', %(text)s)
                    WHERE %(text)s IS NOT NULL AND %(text)s != '' AND %(params)s IS NULL""",
                table=SQL.identifier(table),
                text=SQL.identifier(column),
                params=SQL.identifier(f"{column}_params"),
            )
        )
        cr.execute(SQL("ALTER TABLE %s DROP COLUMN %s", SQL.identifier(table), SQL.identifier(column)))
