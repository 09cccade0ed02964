"""The README's master data and credit examples are events Odoo sends or takes: each one passes
its schema (outbound ``schemas/v1``, inbound ``schemas/inbound/v1``). No database."""

import json
import pathlib
import re

from odoo.addons.finance_sync.engine import inbound
from odoo.addons.finance_sync.engine import payload as payload_lib

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _examples():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Master data and credit", 1)[1].split("\n## ", 1)[0]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", section, re.S)]


def test_every_event_of_the_section_has_an_example():
    assert sorted(example["type"] for example in _examples()) == [
        "partner.credit",
        "partner.exposure",
        "partner.merged",
        "partner.upserted",
    ]


def test_the_examples_match_their_schemas():
    for example in _examples():
        if example["type"] == "partner.credit":
            inbound.validate(example)  # raises InvalidEvent
        else:
            assert payload_lib.validate(example) == [], example["type"]
