"""The salesperson and sales team of orders platforms create, by mapping (kinds *Salesperson
(user)* and *Sales team*), posted signed through Odoo's real HTTP server: mapped codes land on
the order; an unmapped code follows the kind's policy (pass-through: Odoo's login / team name;
required: the event fails, nothing is created); a mapped user or team the backend's company may
not use is refused with nothing created; the Sales team kind is refused while ``crm.team`` is not
in the registry (its model looked up at run time), and imports of both kinds work."""

from unittest.mock import patch

from odoo.exceptions import ValidationError
from odoo.tests import tagged

from ..engine import mapping as mapping_lib
from .test_inbound_orders import OrderCase


@tagged("post_install", "-at_install")
class TestOrderPeopleMappings(OrderCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Mapping = cls.env["finance.sync.mapping"]
        cls.user_line = Mapping.create(
            {"set_id": cls.mapping_set.id, "kind": "user", "mapped_user_id": cls.rep.id, "external_code": "OWNER-7"}
        )
        # The team through its Record, as the mapping list does (crm.team is no Many2one column).
        cls.team_line = Mapping.create(
            {"set_id": cls.mapping_set.id, "record_ref": f"crm.team,{cls.team.id}", "external_code": "TEAM-ENT"}
        )
        cls.other_company = cls.setup_other_company()["company"]

    def people(self, salesperson, team):
        return self.order_data(salesperson=salesperson, team=team)

    def assertNotCreated(self, data, *needles):
        before = self.snapshot()["sale.order"]
        stored = self.send_order(data)
        self.assertEqual(stored.state, "failed", stored.result_message)
        self.assertFalse(self.orders(data["external_id"]))
        self.assertEqual(self.snapshot()["sale.order"], before, "nothing created")
        self.assertEqual(stored.exception_ids.category, "inbound_invalid")
        for needle in needles:
            self.assertIn(needle, stored.exception_ids.message)
        return stored

    def test_the_team_line_keeps_the_teams_id_and_name(self):
        self.assertEqual(
            (self.team_line.kind, self.team_line.res_id, self.team_line.sales_team_res_id),
            ("sales_team", self.team.id, self.team.id),
        )
        self.assertEqual(self.team_line.record_name, "Enterprise deals")
        self.assertEqual(self.team_line.record_ref, self.team)
        self.assertEqual(self.user_line.record_ref, self.rep)
        with self.assertRaises(ValidationError):
            self.env["finance.sync.mapping"].create(
                {"set_id": self.mapping_set.id, "kind": "sales_team", "sales_team_res_id": 999999999}
            )

    def test_mapped_salesperson_and_team_land_on_the_order(self):
        # The platform's codes are no login and no team name: only the mappings know them.
        data = self.people("OWNER-7", "TEAM-ENT")
        stored = self.send_order(data)
        self.assertEqual(stored.state, "processed", stored.result_message)
        order = self.orders(data["external_id"])
        self.assertEqual((order.user_id, order.team_id), (self.rep, self.team))

    def test_the_mapping_wins_over_odoos_own_code(self):
        other_rep = self.make_user("order_rep_two", "sales_team.group_sale_salesman")
        # A code that is also another user's login: the mapping decides.
        self.env["finance.sync.mapping"].create(
            {
                "set_id": self.mapping_set.id,
                "kind": "user",
                "mapped_user_id": other_rep.id,
                "external_code": "order_rep",
            }
        )
        data = self.people("order_rep", "TEAM-ENT")
        self.send_order(data)
        self.assertEqual(self.orders(data["external_id"]).user_id, other_rep)

    def test_an_unmapped_code_passes_through_or_fails_by_policy(self):
        # Pass-through (the default): Odoo's own code, the login and the team's name.
        data = self.people("order_rep", "Enterprise deals")
        self.send_order(data)
        order = self.orders(data["external_id"])
        self.assertEqual((order.user_id, order.team_id), (self.rep, self.team))
        # Required: a code without a mapping fails the event, naming code and set; nothing created.
        self.mapping_set.policy_ids.filtered(lambda p: p.kind in ("user", "sales_team")).write({"policy": "required"})
        unmapped = self.people("order_rep", "Enterprise deals")
        self.assertNotCreated(
            unmapped,
            "Salesperson (user) code order_rep has no mapping in CRM codes",
            "Sales team code Enterprise deals",
        )
        # Once mapped, Reprocess creates the order.
        stored = self.assertNotCreated(self.people("OWNER-7", "Enterprise deals"), "Enterprise deals")
        self.team_line.external_code = "Enterprise deals"
        stored.action_reprocess()
        self.assertEqual(stored.state, "processed", stored.result_message)
        self.assertEqual(self.orders(stored.payload["data"]["external_id"]).team_id, self.team)

    def test_users_and_teams_the_company_may_not_use_are_refused(self):
        Team = self.env["crm.team"].sudo()
        outsider = self.make_user("order_outsider", "sales_team.group_sale_salesman", companies=self.other_company)
        archived = self.make_user("order_archived", "sales_team.group_sale_salesman")
        archived.active = False
        portal = self.env["res.users"].create(
            {
                "name": "Portal customer",
                "login": "order_portal",
                "group_ids": [(6, 0, self.env.ref("base.group_portal").ids)],
            }
        )
        other_team = Team.create({"name": "Their team", "company_id": self.other_company.id})
        old_team = Team.create({"name": "Old team", "company_id": self.company.id})
        old_team.active = False
        Mapping = self.env["finance.sync.mapping"]
        rows = [
            ("user", "mapped_user_id", outsider.id, "U-OTHER-COMPANY"),
            ("user", "mapped_user_id", archived.id, "U-ARCHIVED"),
            ("user", "mapped_user_id", portal.id, "U-PORTAL"),
            ("sales_team", "sales_team_res_id", other_team.id, "T-OTHER-COMPANY"),
            ("sales_team", "sales_team_res_id", old_team.id, "T-ARCHIVED"),
        ]
        for kind, field, res_id, code in rows:
            with self.subTest(code=code):
                Mapping.create({"set_id": self.mapping_set.id, "kind": kind, field: res_id, "external_code": code})
                salesperson, team = (code, "TEAM-ENT") if kind == "user" else ("OWNER-7", code)
                self.assertNotCreated(self.people(salesperson, team), code)
        # The login fallback is no way around it either: another company's user by its login.
        self.assertNotCreated(self.people("order_outsider", "TEAM-ENT"), "order_outsider")

    def test_the_team_kind_is_refused_while_its_model_is_not_installed(self):
        Mapping = self.env["finance.sync.mapping"]
        self.assertIn("crm.team", dict(Mapping._selection_record_ref()))
        # The registry check, for a model that is not there (as crm.team without Sales).
        kinds = dict(mapping_lib.KIND_FIELDS, sales_team=("sales_team_res_id", "no.such.team.model"))
        with patch.dict(mapping_lib.KIND_FIELDS, kinds):
            self.assertFalse(Mapping._kind_available("sales_team"))
            self.assertNotIn("no.such.team.model", dict(Mapping._selection_record_ref()))
            with self.assertRaises(ValidationError):
                Mapping.create({"set_id": self.mapping_set.id, "kind": "sales_team", "sales_team_res_id": self.team.id})

    def test_imports_take_users_by_login_and_teams_by_id(self):
        Mapping = self.env["finance.sync.mapping"]
        rep = self.make_user("order_imported_rep", "sales_team.group_sale_salesman")
        team = self.env["crm.team"].sudo().create({"name": "Imported team", "company_id": self.company.id})
        result = Mapping.load(
            ["set_id", "kind", "mapped_user_id", "sales_team_res_id", "external_code"],
            [
                ["CRM codes", "Salesperson (user)", "order_imported_rep", "", "IMP-OWNER"],
                ["CRM codes", "Sales team", "", str(team.id), "IMP-TEAM"],
            ],
        )
        self.assertFalse(result["messages"], result["messages"])
        lines = Mapping.browse(result["ids"])
        self.assertEqual(lines.mapped("res_id"), [rep.id, team.id])
        data = self.people("IMP-OWNER", "IMP-TEAM")
        self.send_order(data)
        order = self.orders(data["external_id"])
        self.assertEqual((order.user_id, order.team_id), (rep, team))
        # The unique index holds for teams too: the same team twice in one set is refused.
        again = Mapping.load(
            ["set_id", "kind", "sales_team_res_id", "external_code"], [["CRM codes", "Sales team", str(team.id), "X"]]
        )
        self.assertEqual([m["message"] for m in again["messages"]], ["This record is mapped already in this set."])
