"""Every public ``action_*`` method of the module answers something XML-RPC can carry (True or an
action), never None, so that a platform can be set up by a script: read from the source of every
action of every model of the module (and of the Odoo method an override returns), and called over
Odoo's real XML-RPC endpoint for a representative set."""

import ast
import inspect
import textwrap

from odoo.tests import HttpCase, tagged

from .common import FinanceSyncCase

MODULE = "odoo.addons.finance_sync"
RPC_PASSWORD = "rpc-script-password-4711"  # a test user's password


def _own_nodes(function):
    """The nodes of ``function``'s body, without those of the functions, lambdas and classes it defines."""
    todo = list(function.body)
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))


def _falls_through(body):
    """Whether running ``body`` (statements) may reach its end without a return or a raise."""
    if not body:
        return True
    last = body[-1]
    if isinstance(last, (ast.Return, ast.Raise)):
        return False
    if isinstance(last, ast.If):
        return _falls_through(last.body) or _falls_through(last.orelse)
    if isinstance(last, (ast.With, ast.AsyncWith)):
        return _falls_through(last.body)
    if isinstance(last, ast.Try):
        if last.finalbody and not _falls_through(last.finalbody):
            return False
        main = last.orelse or last.body
        return _falls_through(main) or any(_falls_through(handler.body) for handler in last.handlers)
    return True


def _is_super_call(node):
    """``super().<method>(…)``: what the overridden method returns."""
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "super"
    )


def may_return_none(mro, index, name, depth=0):
    """Why the method ``name`` of class ``mro[index]`` may return None (empty: it cannot): it may
    end without a return, return nothing, or return what the overridden method returns, which
    may itself be None (read in the same way)."""
    function = mro[index].__dict__[name]
    tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(function))))
    definition = tree.body[0]
    where = f"{mro[index].__module__}.{mro[index].__name__}.{name}"
    problems = [f"{where} may end without returning"] if _falls_through(definition.body) else []
    from_super = {
        target.id
        for node in _own_nodes(definition)
        if isinstance(node, ast.Assign) and _is_super_call(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    for node in _own_nodes(definition):
        if not isinstance(node, ast.Return):
            continue
        value = node.value
        if value is None or (isinstance(value, ast.Constant) and value.value is None):
            problems.append(f"{where} returns nothing (line {node.lineno})")
        elif _is_super_call(value) or (isinstance(value, ast.Name) and value.id in from_super):
            parent = next((i for i in range(index + 1, len(mro)) if name in mro[i].__dict__), None)
            if parent is None:
                problems.append(f"{where} returns what a missing parent method returns")
            elif depth < 5:
                problems += may_return_none(mro, parent, name, depth + 1)
    return problems


def module_actions(env):
    """{(model, method): [index in its MRO of each class of the module that defines it]}."""
    found = {}
    for model_name in env.registry:
        mro = type(env[model_name]).__mro__
        for index, klass in enumerate(mro):
            if not klass.__module__.startswith(MODULE):
                continue
            for name, value in vars(klass).items():
                if name.startswith("action_") and callable(value):
                    found.setdefault((model_name, name), []).append(index)
    return found


@tagged("post_install", "-at_install")
class TestActionsAnswerXmlRpc(FinanceSyncCase, HttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.rpc_user = cls.make_user(
            "fs_rpc_script", "finance_sync.finance_sync_group_admin", "account.group_account_manager"
        )
        cls.rpc_user.password = RPC_PASSWORD

    def call(self, model, method, ids, *args):
        """``method`` of ``model`` on ``ids`` over XML-RPC as the script's user."""
        return self.xmlrpc_object.execute_kw(
            self.env.cr.dbname, self.rpc_user.id, RPC_PASSWORD, model, method, [ids, *args]
        )

    def test_no_action_of_the_module_may_return_none(self):
        actions = module_actions(self.env)
        self.assertGreater(len(actions), 40, "the actions of the module were found")
        problems = []
        for (model_name, name), indexes in sorted(actions.items()):
            mro = type(self.env[model_name]).__mro__
            for index in indexes:
                problems += may_return_none(mro, index, name)
        self.assertEqual(sorted(set(problems)), [])

    def test_a_script_sets_a_platform_up_over_xml_rpc(self):
        self.respond(200)
        backend = self.env["finance.sync.backend"].create(
            {"name": "Scripted", "endpoint_url": self.receiver.url_for("/hook"), "company_ids": self.company.ids}
        )
        mapping_set = self.env["finance.sync.mapping.set"].create({"name": "Scripted codes"})
        Backend = "finance.sync.backend"
        results = {
            "activate": self.call(Backend, "action_activate", [backend.id]),
            "pause": self.call(Backend, "action_pause", [backend.id]),
            "resume": self.call(Backend, "action_resume", [backend.id]),
            "close the circuit": self.call(Backend, "action_reset_circuit", [backend.id]),
            "test the connection": self.call(Backend, "action_test_connection", [backend.id]),
            "new webhook URL": self.call(Backend, "action_regenerate_webhook_token", [backend.id]),
            "its jobs": self.call(Backend, "action_view_jobs", [backend.id]),
            "find unmapped": self.call("finance.sync.mapping.set", "action_find_unmapped", [mapping_set.id]),
        }
        invoice = self.init_invoice("out_invoice", amounts=[1234.57])
        results["post an invoice"] = self.call("account.move", "action_post", [invoice.id])
        job = self.jobs_of(invoice, backend)
        results["send its event now"] = self.call("finance.sync.job", "action_send_now", [job.id])
        payment = self.env["account.payment"].create(
            {"amount": 12.10, "payment_type": "inbound", "partner_type": "customer", "partner_id": self.partner_a.id}
        )
        results["post a payment"] = self.call("account.payment", "action_post", [payment.id])
        results["reset it to draft"] = self.call("account.payment", "action_draft", [payment.id])
        results["cancel it"] = self.call("account.payment", "action_cancel", [payment.id])
        exc = self.env["finance.sync.exception"]._open_or_bump(backend, "conflict", "x", fingerprint_key="rpc")
        results["resolve an exception"] = self.call("finance.sync.exception", "action_resolve", [exc.id])
        for label, result in results.items():
            with self.subTest(label):
                self.assertTrue(result is True or isinstance(result, dict), result)
        self.env.invalidate_all()
        self.assertEqual(backend.state, "active")
        self.assertEqual((job.state, payment.state, exc.state), ("done", "canceled", "resolved"))
