"""Checks of the payment lifecycle on the realistic books (a mixin of tests/test_books.py):
what platforms last heard of each document is what Odoo holds."""

from .books import money


class PaymentsOnBooks:
    def test_last_invoice_event_carries_odoos_figures(self):
        last = self.last_delivered(self.books.moves)
        differences = []
        for move, body in last.items():
            document, currency = body["document"], move.currency_id
            expected = {
                "state": move.state,
                "payment_state": move.payment_state,
                "total": money(move.amount_total, currency),
                "residual": money(move.amount_residual, currency),
            }
            got = {
                "state": document["state"],
                "payment_state": document["payment_state"],
                "total": document["amounts"]["total"],
                "residual": document["amounts"]["residual"],
            }
            if got != expected:
                differences.append((move.name, got, expected))
        self.assertFalse(differences, f"{len(differences)} of {len(last)} documents differ: {differences[:5]}")
