"""The JSON examples of the README and of every page of ``docs/`` are events Odoo sends or takes:
each one passes its schema (outbound ``schemas/v1``, inbound ``schemas/inbound/v1``), and the
master data page shows every event it describes. No database."""

import json
import pathlib
import re

from odoo.addons.finance_sync.engine import inbound
from odoo.addons.finance_sync.engine import payload as payload_lib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MASTER_DATA = ROOT / "docs" / "master-data.md"


def _examples(pages=PAGES):
    blocks = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        blocks += [json.loads(block) for block in re.findall(r"```json\n(.*?)```", text, re.S)]
    return [block for block in blocks if isinstance(block, dict) and "type" in block]


def test_every_event_of_the_master_data_page_has_an_example():
    assert sorted(example["type"] for example in _examples([MASTER_DATA])) == [
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
