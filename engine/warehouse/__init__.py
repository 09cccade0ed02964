"""The PostgreSQL warehouse: finance events applied to a star schema in an external database.

- :mod:`.schema`: connecting, the schema's numbered, forward-only migrations
  (``migrations/NNNN_name.sql``, recorded in ``schema_migrations``) and the version check;
- :mod:`.loader`: one event applied in one warehouse transaction (idempotent per event id,
  never overwriting newer state of a document with an older event);
- :mod:`.transport`: the ``warehouse`` transport of the dispatcher, one connection per sending
  thread, and what a database error means for a job.

Plain Python on psycopg2: no ORM, no cursor of Odoo's own database.
"""
