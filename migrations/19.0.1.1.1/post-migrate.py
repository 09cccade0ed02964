"""Exceptions about a missing mapping keep the kind and the record in fields of their own
(``mapping_kind``, ``mapping_res_id``) instead of only inside their fingerprint: fill them from
the fingerprint of the existing ones (``<backend>|missing_mapping|mapping:<kind>:<id>``), the
last time it is read.

Inbound events link their document like jobs and exceptions do (``res_model``, ``res_id``
beside ``move_id``/``payment_id``): fill the reference of the existing ones from their invoice,
else their payment."""


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
