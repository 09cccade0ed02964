"""A pytest plugin that scripts/test.sh loads (``-p pytest_odoo_database``): outside the addon, so
that pytest imports it as a plain module, never as part of ``odoo.addons.finance_sync``."""

import pytest

from odoo.tools import config


@pytest.fixture(scope="session", autouse=True)
def database_name_as_odoo_keeps_it(load_registry):
    """pytest-odoo 2.3 names each pytest-xdist process's copy of the test database as a string,
    where Odoo 19 keeps ``db_name`` as a list (``odoo.tests.get_db_name()`` takes its first item):
    give it back as a list, or every HTTP test and server started by a test would use the
    database named by its first letter."""
    if isinstance(config["db_name"], str):
        config["db_name"] = [config["db_name"]]
    return config["db_name"][0]
