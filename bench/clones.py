"""Historical invoices by the hundred thousand, for the backfill benchmark and the backfill's
kill test: a few realistic posted invoices created through the ORM (creating and posting one
takes 0.7 s), cloned with SQL (``INSERT … SELECT … generate_series``).

A clone copies every column of its template's ``account_move`` row and ``account_move_line``
rows, and its lines' tax and tag relations, with new ids from the sequences, a number of its own
(``<prefix>000001`` …), and a date of its own (every date of the template moved by the same
number of days). The ORM reads it as the posted invoice its template is: same partner, lines,
taxes and totals (see ``check_clone``).
"""

import time

from odoo.addons.finance_sync.utils import without_capture

# The lines' many2many relations a clone copies from its template's lines: (table, line column).
LINE_RELATIONS = (
    ("account_move_line_account_tax_rel", "account_move_line_id"),
    ("account_account_tag_account_move_line_rel", "account_move_line_id"),
)
PRICES = ((12.10, 0.07, 1234.57), (88.81, 19.99, 7.03), (305.11, 0.99, 40.01))


def make_templates(env, count, day, partner_name="Historical customer"):
    """``count`` posted customer invoices dated ``day``, each of three lines with the company's
    sales tax and prices with cents, for a new customer; captured by nobody (history posted
    before any backend existed). Not committed. Returns (partner, invoices)."""
    company = env.company
    partner = env["res.partner"].create({"name": partner_name})
    income = env["account.account"].search(
        [("account_type", "=", "income"), ("company_ids", "in", company.ids)], limit=1
    )
    moves = env["account.move"].create(
        [
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "invoice_date": day,
                "date": day,
                "invoice_line_ids": [
                    (
                        0,
                        0,
                        {
                            "name": f"Service {i}-{j}",
                            "quantity": 1 + j,
                            "price_unit": price,
                            "account_id": income.id,
                            "tax_ids": [(6, 0, company.account_sale_tax_id.ids)],
                        },
                    )
                    for j, price in enumerate(PRICES[i % len(PRICES)])
                ],
            }
            for i in range(count)
        ]
    )
    without_capture(moves).action_post()
    return partner, moves


def _columns(cr, table, overrides):
    """(target columns, select expressions) copying every column of ``table`` from the alias
    ``t`` but those of ``overrides`` ({column: SQL expression}), given instead."""
    cr.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = %s ORDER BY ordinal_position",
        (table,),
    )
    names = [row[0] for row in cr.fetchall()]
    unknown = set(overrides) - set(names)
    if unknown:
        raise RuntimeError(f"{table} has no column {unknown}")
    targets = ", ".join(f'"{name}"' for name in names)
    values = ", ".join(overrides.get(name, f't."{name}"') for name in names)
    return targets, values


def clone_invoices(env, templates, count, first_day, last_day, prefix):
    """Insert ``count`` clones of ``templates`` (in turn) numbered ``prefix`` + 6 digits, dated
    over ``first_day`` .. ``last_day``, in the current transaction (the caller commits);
    return the seconds it took."""
    start = time.perf_counter()
    env.flush_all()
    cr = env.cr
    days = (last_day - first_day).days + 1
    # Which template each clone copies, its new id, number and date; then each line's new id.
    cr.execute(
        """CREATE TEMP TABLE finance_sync_clone ON COMMIT DROP AS
           SELECT n, tpl.id AS template_id, nextval('account_move_id_seq')::int4 AS new_id,
                  %(prefix)s || lpad(n::text, 6, '0') AS new_name,
                  (%(first)s::date + ((n * 7919) %% %(days)s))::date AS new_date
             FROM generate_series(1, %(count)s) n
             JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS position
                     FROM account_move WHERE id IN %(ids)s) tpl
               ON tpl.position = n %% %(templates)s""",
        {
            "prefix": prefix,
            "first": first_day,
            "days": days,
            "count": count,
            "ids": tuple(templates.ids),
            "templates": len(templates),
        },
    )
    cr.execute(
        """CREATE TEMP TABLE finance_sync_clone_line ON COMMIT DROP AS
           SELECT s.*, nextval('account_move_line_id_seq')::int4 AS new_line_id
             FROM (SELECT c.new_id, c.new_name, c.new_date, l.id AS template_line_id
                     FROM finance_sync_clone c JOIN account_move_line l ON l.move_id = c.template_id
                    ORDER BY c.n, l.id) s"""
    )
    targets, values = _columns(
        cr,
        "account_move",
        {
            "id": "c.new_id",
            "name": "c.new_name",
            "payment_reference": "c.new_name",
            "sequence_prefix": "%(prefix)s",
            "sequence_number": "c.n",
            "date": "c.new_date",
            "invoice_date": "c.new_date",
            "invoice_date_due": "t.invoice_date_due + (c.new_date - t.date)",
            "access_token": "NULL",
        },
    )
    cr.execute(
        f"INSERT INTO account_move ({targets}) SELECT {values}"  # noqa: S608 - column names of the table itself
        " FROM finance_sync_clone c JOIN account_move t ON t.id = c.template_id",
        {"prefix": prefix},
    )
    targets, values = _columns(
        cr,
        "account_move_line",
        {
            "id": "c.new_line_id",
            "move_id": "c.new_id",
            "move_name": "c.new_name",
            "date": "c.new_date",
            "invoice_date": "c.new_date",
            "date_maturity": "t.date_maturity + (c.new_date - t.date)",
        },
    )
    cr.execute(
        f"INSERT INTO account_move_line ({targets}) SELECT {values}"  # noqa: S608
        " FROM finance_sync_clone_line c JOIN account_move_line t ON t.id = c.template_line_id"
    )
    for table, column in LINE_RELATIONS:
        cr.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,))
        other = next(name for (name,) in cr.fetchall() if name != column)
        cr.execute(
            f'INSERT INTO {table} ("{column}", "{other}")'  # noqa: S608
            f' SELECT c.new_line_id, r."{other}" FROM finance_sync_clone_line c'
            f' JOIN {table} r ON r."{column}" = c.template_line_id'
        )
    cr.execute("ANALYZE account_move")
    cr.execute("ANALYZE account_move_line")
    env.invalidate_all()
    return time.perf_counter() - start


def clone_ids(env, prefix):
    """Ids of the clones numbered ``prefix`` …, in id order."""
    env.cr.execute("SELECT id FROM account_move WHERE name LIKE %s ORDER BY id", (prefix + "%",))
    return [row[0] for row in env.cr.fetchall()]


def check_clone(env, templates, prefix):
    """Raise unless the ORM reads a clone as its template: a posted, unpaid invoice with the same
    lines, taxes and totals, whose payload has the same figures and its own number and date.
    Returns the clone."""
    env.invalidate_all()
    env.cr.execute("SELECT id FROM account_move WHERE name = %s", (f"{prefix}{len(templates) + 1:06d}",))
    clone = env["account.move"].browse(env.cr.fetchone()[0])
    template = templates.sorted("id")[1 % len(templates)]  # clone n copies template n % count
    problems = []
    if (clone.state, clone.move_type, clone.payment_state) != ("posted", "out_invoice", "not_paid"):
        problems.append(f"state {(clone.state, clone.move_type, clone.payment_state)}")
    figures = ("amount_untaxed", "amount_tax", "amount_total", "amount_residual")
    if [clone[f] for f in figures] != [template[f] for f in figures] or clone.partner_id != template.partner_id:
        problems.append("totals or partner differ")
    if clone.invoice_line_ids.mapped("price_subtotal") != template.invoice_line_ids.mapped("price_subtotal"):
        problems.append(
            f"lines differ: {clone.invoice_line_ids.mapped('price_subtotal')} "
            f"{template.invoice_line_ids.mapped('price_subtotal')}"
        )
    if not clone.invoice_line_ids.tax_ids or clone.invoice_line_ids.tax_ids != template.invoice_line_ids.tax_ids:
        problems.append("line taxes differ")
    payloads = (clone | template)._finance_sync_payloads()
    ours, theirs = payloads[clone.id], payloads[template.id]
    if ours["document"]["amounts"] != theirs["document"]["amounts"]:
        problems.append("payload amounts differ")
    if [line["total"] for line in ours["lines"]] != [line["total"] for line in theirs["lines"]]:
        problems.append("payload lines differ")
    if ours["document"]["number"] != clone.name or ours["document"]["date"] != str(clone.date):
        problems.append("payload number or date not the clone's")
    if problems:
        raise RuntimeError(f"the ORM does not read the cloned invoice {clone.name} as its template: {problems}")
    return clone


def delete_invoices(env, prefix, templates, partner):
    """Delete the clones, their templates (the lines go with them) and the customer; return how
    many invoices were deleted. Not committed."""
    env.invalidate_all()
    env.cr.execute(
        "DELETE FROM account_move WHERE name LIKE %s OR id IN %s RETURNING id", (prefix + "%", tuple(templates.ids))
    )
    deleted = len(env.cr.fetchall())
    env.cr.execute("DELETE FROM res_partner WHERE id = %s", (partner.id,))
    env.invalidate_all()
    return deleted
