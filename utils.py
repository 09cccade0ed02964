"""Small helpers the models and the controller share (server configuration, secrets, fields
written only by the module's own methods)."""

import configparser
import functools
import logging
import os
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tools import config, str2bool

from . import const
from .engine import messages
from .engine.crypto import SecretBox, generate_key

_logger = logging.getLogger(__name__)


def allow_private_endpoints() -> bool:
    """Server-level switch that lets backends target private or loopback addresses and plain
    http: for tests and local demos only, never for production.

    Set in the server's configuration file, in the module's own section, which Odoo leaves to
    add-ons (it warns only about the keys of ``[options]`` it does not know)::

        [finance_sync]
        allow_private_endpoints = True

    The former ``finance_sync_allow_private_endpoints`` key of ``[options]`` is still read (Odoo
    warns about it on every start). Only whoever runs the server sets it: no user, record,
    system parameter or context can.
    """
    value = server_options().get(const.OPTION_ALLOW_PRIVATE) or config.get(const.CONFIG_ALLOW_PRIVATE)
    return str2bool(str(value or "False"), default=False)


def server_options() -> dict:
    """The ``[finance_sync]`` section of the server's configuration file (empty without one)."""
    path = config.get("config")
    try:
        stamp = os.stat(path).st_mtime_ns if path else None
    except OSError:
        stamp = None
    return dict(_read_section(path, stamp)) if stamp is not None else {}


@functools.lru_cache(maxsize=4)
def _read_section(path, _stamp):
    """(key, value) pairs of the module's section of the configuration file at ``path`` (read
    again when the file changes: ``_stamp`` is its modification time)."""
    parser = configparser.RawConfigParser()
    try:
        parser.read([path], encoding="utf-8")
    except configparser.Error:
        _logger.warning("finance_sync: the [%s] section of %s cannot be read", const.CONFIG_SECTION, path)
        return ()
    return tuple(parser.items(const.CONFIG_SECTION)) if parser.has_section(const.CONFIG_SECTION) else ()


@functools.lru_cache(maxsize=4)
def _box(keys: str) -> SecretBox:
    return SecretBox(keys)


def secret_box(env) -> SecretBox:
    """The cipher for credentials at rest.

    The key comes from ``finance_sync_encryption_key`` in the Odoo server configuration or the
    ``FINANCE_SYNC_ENCRYPTION_KEY`` environment variable (comma-separated to rotate keys: the
    first encrypts, all decrypt). Without one, a key is generated and kept in a system parameter
    of the same database: it still keeps secrets out of exports and backups of the backend table,
    but not out of a full database dump, hence the warning on every start.
    """
    keys = config.get(const.CONFIG_ENCRYPTION_KEY) or os.environ.get(const.ENV_ENCRYPTION_KEY)
    if not keys:
        params = env["ir.config_parameter"].sudo()
        keys = params.get_param(const.PARAM_GENERATED_KEY)
        if not keys:
            keys = generate_key()
            params.set_param(const.PARAM_GENERATED_KEY, keys)
        if not _warned:
            _warned.append(True)
            _logger.warning(
                "finance_sync: no %s in the server configuration nor %s in the environment; "
                "credentials are encrypted with a key generated into this database. "
                "Set a key of your own for production.",
                const.CONFIG_ENCRYPTION_KEY,
                const.ENV_ENCRYPTION_KEY,
            )
    return _box(keys)


_warned: list[bool] = []


def retention_cutoff(env, days=None):
    """Records finished before this moment may be purged; None when retention is off (0 days)."""
    if days is None:
        param = env["ir.config_parameter"].sudo().get_param(const.PARAM_RETENTION_DAYS)
        days = int(param) if (param or "").strip().isdigit() else const.DEFAULT_RETENTION_DAYS
    return fields.Datetime.now() - timedelta(days=days) if days > 0 else None


def purge_batch(model, domain, order, limit=None):
    """Unlink the oldest ``limit`` records of ``domain`` (all of them without ``limit``), as the
    superuser. :return: (how many were deleted, whether more are left), what an
    ``@api.autovacuum`` method returns so that Odoo's garbage collection calls it again."""
    batch = model.sudo().with_context(active_test=False).search(domain, order=order, limit=limit)
    batch.unlink()
    return len(batch), bool(limit) and len(batch) == limit


def action_result(result):
    """What a public ``action_*`` method answers: the action it returns, or True. Odoo's own
    methods that the module overrides may return None, which XML-RPC cannot carry (a script would
    get an error for a document it did post), or False."""
    return result if isinstance(result, dict) else True


# --- Messages stored as a code and parameters (engine/messages.py) -----------------------------
# A model keeps a message ``x`` in two stored fields, ``x_code`` (Char) and ``x_params`` (Json),
# and shows it in ``x``, a text field computed in the reader's language.


def render_message(env, code, params):
    """The text of a stored message in ``env``'s language (its template through ``env._``)."""

    def label(model, field, value):
        return dict(env[model]._fields[field]._description_selection(env)).get(value, value)

    return messages.render(code, params, translate=env._, label=label)


def compute_message(records, fname):
    """Set the text field ``fname`` of ``records`` from its stored code and parameters."""
    for record in records:
        code, params = record[f"{fname}_code"], record[f"{fname}_params"]
        record[fname] = render_message(record.env, code, params) if code or params else False


def message_vals(fname, message):
    """The stored values of the message ``fname``: ``message`` is a ``messages.Message``, a text
    that has no translation (kept as it is), or nothing (no message)."""
    if isinstance(message, str):
        message = messages.text(message) if message else None
    if message is None:
        return {f"{fname}_code": False, f"{fname}_params": False}
    return {f"{fname}_code": message.code or False, f"{fname}_params": message.as_json()["params"] or False}


# --- Fields only the module's own methods write ------------------------------------------------
# Outbox rows, stored deliveries, rotation stamps and webhook tokens are facts the module
# records; users (administrators included, whatever the ACL lets them write) never set them.
# The key's value is a Python object: a JSON-RPC call can put any JSON value in its context,
# never this object, so only the module's own code can grant it.
_INTERNAL_KEY = "finance_sync_internal_write"
_INTERNAL = object()


def internal(records):
    """``records`` with the right to write their guarded fields: only for the named methods
    that record what happened (state transitions, processing results, secret rotation)."""
    return records.with_context(**{_INTERNAL_KEY: _INTERNAL})


# --- Switches and decisions only the module's own code passes ----------------------------------
# The same reasoning as ``internal()``: a context key that relaxes a check or grants a right
# holds a Python object of this module, never a value a JSON-RPC caller can send. A caller's
# ``{"finance_sync_no_capture": true}`` or ``{"finance_sync_credit_override": true}`` is ignored.
NO_CAPTURE = "finance_sync_no_capture"
MAPPING_SUMMARY = "finance_sync_mapping_summary"
_SWITCHES = {NO_CAPTURE: object(), MAPPING_SUMMARY: object()}


def switch_on(records, name):
    """``records`` with the switch ``name`` on (``NO_CAPTURE``, ``MAPPING_SUMMARY``)."""
    return records.with_context(**{name: _SWITCHES[name]})


def switched_on(env, name):
    """Whether the module's own code turned the switch ``name`` on in ``env``."""
    return env.context.get(name) is _SWITCHES[name]


def without_capture(records):
    """``records`` whose posting (documents) and changes (partners) capture no event: for
    importing historical documents the platforms already have, by code (a script run with
    ``odoo-bin shell``, a data migration), never through the UI or RPC."""
    return switch_on(records, NO_CAPTURE)


_CREDIT_OVERRIDE_KEY = "finance_sync_credit_override"


class CreditOverride:
    """A person's decision to post invoices of customers on credit hold: the environment's user
    decides, ``reason`` says why. Granted only by the override wizard; ``account.move._post``
    records it in the chatter of every held invoice it posts."""

    __slots__ = ("reason",)

    def __init__(self, reason):
        reason = (reason or "").strip()
        if not reason:
            raise ValueError("a credit hold is overridden only with a reason")
        self.reason = reason


def credit_override(records, reason):
    """``records`` allowed to post invoices of customers on credit hold, for ``reason``."""
    return records.with_context(**{_CREDIT_OVERRIDE_KEY: CreditOverride(reason)})


def credit_override_of(env):
    """The credit hold override granted in ``env`` (a ``CreditOverride``), or None."""
    value = env.context.get(_CREDIT_OVERRIDE_KEY)
    return value if isinstance(value, CreditOverride) else None


_APPROVAL_OVERRIDE_KEY = "finance_sync_approval_override"


class ApprovalOverride:
    """A person's decision to post documents a platform has not approved (yet): the environment's
    user decides, ``reason`` says why. Granted only by the approval override wizard, to an
    accounting administrator; ``account.move._post`` records it on every such document it posts."""

    __slots__ = ("reason",)

    def __init__(self, reason):
        reason = (reason or "").strip()
        if not reason:
            raise ValueError("a platform's approval is overridden only with a reason")
        self.reason = reason


def approval_override(records, reason):
    """``records`` allowed to post documents their platform has not approved, for ``reason``."""
    return records.with_context(**{_APPROVAL_OVERRIDE_KEY: ApprovalOverride(reason)})


def approval_override_of(env):
    """The approval override granted in ``env`` (an ``ApprovalOverride``), or None."""
    value = env.context.get(_APPROVAL_OVERRIDE_KEY)
    return value if isinstance(value, ApprovalOverride) else None


def without_context_defaults(records, fnames):
    """``records`` whose context gives no default for ``fnames``. Odoo applies ``default_<field>``
    context keys inside ``create``, after the overrides that check the values: for a field that
    grants a right or records a fact, such a key would pass around the check. A model's
    ``default_get`` reads through this, so those fields take their own default only."""
    context = records.env.context
    dropped = {f"default_{fname}" for fname in fnames} & context.keys()
    if not dropped:
        return records
    # The context without those keys (with_context would merge, not drop them).
    return records.with_env(records.env(context={key: value for key, value in context.items() if key not in dropped}))


def check_guarded_fields(records, fnames, guarded=None):
    """Raise AccessError when ``fnames`` (written or created) include fields of ``guarded``
    (every field when None) and the caller is not one of the module's named methods."""
    if records.env.context.get(_INTERNAL_KEY) is _INTERNAL:
        return
    touched = sorted(set(fnames) if guarded is None else set(fnames) & set(guarded))
    if touched:
        labels = ", ".join(records._fields[f].string if f in records._fields else f for f in touched)
        raise AccessError(
            records.env._(
                "%(model)s: %(fields)s can only be changed by Finance Sync itself, never by hand.",
                model=records._description,
                fields=labels,
            )
        )


# --- Companies: a person acts only for the companies they work in -------------------------------


def check_own_companies(env, companies, what):
    """Raise AccessError unless every company of ``companies`` is one the user works in now
    (``env.companies``: the companies allowed to the user and enabled in the request), the way
    the company record rules count them. The superuser (the module's own crons and methods) is
    not concerned.

    :param what: what the user tried, in words, for the message
    """
    if env.su:
        return
    foreign = companies - env.companies
    if foreign:
        raise AccessError(
            env._(
                "%(what)s: %(companies)s is not one of your companies. Only users of a company may do this for it.",
                what=what,
                companies=", ".join(foreign.sudo().mapped("display_name")),
            )
        )


def check_access_after_move(records, vals, fnames):
    """Record rules are checked before a write, never after it: when ``vals`` moves ``records``
    (writes one of ``fnames``, their company or the parent that gives them one), check that the
    user may still write them where they are now, so that nobody moves a record into a company
    they do not work in."""
    if not records.env.su and set(fnames) & vals.keys():
        records.check_access("write")
