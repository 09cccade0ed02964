"""Plain-Python core of finance_sync: no Odoo imports, unit-testable without a database."""
