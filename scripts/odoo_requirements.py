"""Print Odoo's requirements.txt with its environment markers evaluated as Python 3.12.

Odoo pins old source distributions for Python 3.10/3.11 that no longer build with current
tool chains, while its Python 3.12 pins all ship wheels for 3.10 and 3.11 too. So every
requirement line is kept or dropped as if the interpreter were 3.12, and the marker removed.
``python-ldap`` is skipped unless the LDAP/SASL headers it compiles against are installed.
"""

import os
import sys

from packaging.markers import default_environment
from packaging.requirements import Requirement

LDAP_HEADERS = ("/usr/include/ldap.h", "/usr/include/sasl/sasl.h")


def odoo_requirements(lines, environment):
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        if req.marker and not req.marker.evaluate(environment):
            continue
        if req.name.lower() == "python-ldap" and not all(map(os.path.exists, LDAP_HEADERS)):
            continue
        req.marker = None
        yield str(req)


def main(path):
    env = default_environment()
    env.update(python_version="3.12", python_full_version="3.12.0")
    with open(path, encoding="utf-8") as f:
        for req in odoo_requirements(f, env):
            print(req)


if __name__ == "__main__":
    main(sys.argv[1])
