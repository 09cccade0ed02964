"""Messages kept for people to read later (engine/messages.py): codes and parameters, rendered
in English by the engine or through a translation function. No database."""

from pathlib import Path

import pytest

from odoo.addons.finance_sync.engine import messages
from odoo.addons.finance_sync.engine.messages import message, selection, text


def test_every_template_is_an_english_sentence_and_the_engine_imports_no_odoo():
    """Templates are plain English strings marked with ``_lt``; Odoo's export reads the marks
    (test_messages checks each is a term of the exported template) and the models translate."""
    assert messages.TEMPLATES
    assert all(isinstance(template, str) and template for template in messages.TEMPLATES.values())
    for path in Path(messages.__file__).parent.rglob("*.py"):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert not [line for line in lines if line.startswith(("import odoo", "from odoo"))], path.name


def test_english_text_with_parameters_and_detail():
    note = message("http_retry", status=503, detail="busy, try later")
    assert (note.code, note.params) == ("http_retry", {"status": 503, "detail": "busy, try later"})
    assert str(note) == "The platform could not take the event for now (HTTP 503): busy, try later"
    assert str(message("http_retry", status=503)) == "The platform could not take the event for now (HTTP 503)"


@pytest.mark.parametrize(
    ("code", "params", "one", "two"),
    [
        (
            "late_delivery",
            {"minutes": 30, "since": "2026-01-05 10:00:00"},
            "1 event of a document posted more than 30 minutes ago is not delivered yet; it was captured on",
            "2 events of documents posted more than 30 minutes ago are not delivered yet; the oldest was captured on",
        ),
        (
            "reconciliation_missing_documents",
            {"documents": "INV/1"},
            "1 event Odoo delivered is missing on the platform: INV/1",
            "2 events Odoo delivered are missing on the platform: INV/1",
        ),
        (
            "reconciliation_missing_events",
            {"events": "e1"},
            "1 event Odoo delivered is missing on the platform (e1)",
            "2 events Odoo delivered are missing on the platform (e1)",
        ),
        (
            "reconciliation_unknown_references",
            {"references": "X"},
            "the platform holds 1 reference Odoo never sent for this period (X)",
            "the platform holds 2 references Odoo never sent for this period (X)",
        ),
    ],
)
def test_a_count_of_one_reads_in_the_singular(code, params, one, two):
    assert str(message(code, count=1, **params)).startswith(one)
    assert str(message(code, count=2, **params)).startswith(two)
    # The singular template goes through the translation function as it is (Odoo's export has it).
    assert messages.render(code, {"count": 1, **params}, translate=lambda t: f"» {t}").startswith(f"» {one}")
    assert set(messages.SINGULARS) <= set(messages.TEMPLATES)
    assert not any("(s)" in template for template in messages.TEMPLATES.values())


def test_rendered_through_the_translation_function_parameters_untouched():
    seen = []

    def translate(template):
        seen.append(template)
        return "HTTP %(status)s : renvoi prévu"

    note = message("http_retry", status=503, detail="busy")
    assert messages.render(note.code, note.params, translate=translate) == "HTTP 503 : renvoi prévu: busy"
    assert len(seen) == 1
    assert seen[0] is messages.TEMPLATES["http_retry"], "the English template itself, as env._ takes it"


def test_a_translation_that_does_not_fit_its_parameters_falls_back_to_english():
    note = message("http_rejected", status=400)
    assert messages.render(note.code, note.params, translate=lambda t: "HTTP %(statut)s refusé") == (
        "The platform rejected the event (HTTP 400)"
    )


def test_nested_messages_lists_and_selection_labels_render_in_the_same_language():
    records = [
        message("missing_mapping_record", kind=selection("finance.sync.mapping", "kind", "partner"), name="Azure"),
        message("missing_mapping_record", kind=selection("finance.sync.mapping", "kind", "tax"), name="VAT 21%"),
    ]
    note = message("missing_mappings", records=records)
    assert str(note) == "Missing mappings: partner Azure, tax VAT 21%"
    labels = {"partner": "Partner", "tax": "Tax"}
    assert (
        messages.render(note.code, note.params, label=lambda model, field, value: labels[value])
        == "Missing mappings: Partner Azure, Tax VAT 21%"
    )
    dead = message("gave_up", count=3, error=message("http_retry", status=500))
    assert dead.params["error"] == {"code": "http_retry", "params": {"status": 500}}
    assert str(dead) == (
        "Gave up after 3 attempts. Last error: The platform could not take the event for now (HTTP 500)"
    )


def test_masking_reaches_every_text_parameter_and_nested_ones():
    note = message("gave_up", count=2, error=message("http_rejected", status=401, detail="token s3cr3t refused"))
    masked = note.masked(lambda value: value.replace("s3cr3t", "***"))
    assert "s3cr3t" not in str(masked)
    assert "token *** refused" in str(masked)
    assert masked.params["count"] == 2


def test_equal_messages_group_together():
    first = message("http_retry", status=503, detail="busy")
    assert first == message("http_retry", status=503, detail="busy")
    assert hash(first) == hash(message("http_retry", status=503, detail="busy"))
    assert first != message("http_retry", status=502, detail="busy")
    assert len({first, message("http_retry", status=503, detail="busy")}) == 1


def test_text_without_translation_and_codes_of_another_version():
    assert str(text("path/x: not a string")) == "path/x: not a string"
    assert messages.render("code_of_a_later_version", {"x": 1}) == "code_of_a_later_version"
    with pytest.raises(KeyError):
        message("no_such_code")


def test_a_refusal_carries_its_message():
    error = messages.MessageError(message("no_signing_secret", backend="Warehouse"))
    assert isinstance(error, ValueError)
    assert error.note.code == "no_signing_secret"
    assert str(error) == "Backend Warehouse signs its events but has no signing secret."
