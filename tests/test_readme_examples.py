"""The README's JSON examples are events Odoo sends or takes: each one passes its schema
(outbound ``schemas/v1``, inbound ``schemas/inbound/v1``), and the master data section shows
every event it describes. No database."""

import json
import pathlib
import re

from odoo.addons.finance_sync.engine import inbound
from odoo.addons.finance_sync.engine import payload as payload_lib

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _examples(section=None):
    text = README.read_text(encoding="utf-8")
    if section:
        text = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    blocks = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]
    return [block for block in blocks if isinstance(block, dict) and "type" in block]


def test_every_event_of_the_master_data_section_has_an_example():
    assert sorted(example["type"] for example in _examples("Master data and credit")) == [
        "partner.credit",
        "partner.exposure",
        "partner.merged",
        "partner.upserted",
    ]


def test_the_examples_match_their_schemas():
    examples = _examples()
    assert {"feed.ar_aging", "reconciliation.report", "invoice.create", "partner.upserted"} <= {
        example["type"] for example in examples
    }
    for example in examples:
        if (pathlib.Path(inbound.SCHEMA_DIR) / f"{example['type']}.json").exists():
            inbound.validate(example)  # raises InvalidEvent
        else:
            assert payload_lib.validate(example) == [], example["type"]
