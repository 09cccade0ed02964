"""A backend's secrets: the credentials Odoo proves itself with (token, password), the signing
secret shared with the platform (generated, shown once, rotated with an overlap), the warehouse
password and the webhook token of its inbound URL.

Every secret is write-only: typed into a field that always reads empty, stored encrypted in a
field only the system reads, and decrypted only for the dispatcher and the webhook. Whoever knows
an authority's secrets or its webhook token speaks in its name: changing, renewing or revealing
them passes the backend's one authority guard (``_check_authority_fields``)."""

import secrets as pysecrets
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from .. import const
from ..engine import redact, signing
from ..utils import internal, secret_box

SECRET_FIELDS = {
    # write-only UI field -> encrypted stored field
    "auth_secret": "auth_secret_encrypted",
    "signing_secret": "signing_secret_encrypted",
    "warehouse_password": "warehouse_password_encrypted",
    "broker_password": "broker_password_encrypted",
}


def new_webhook_token():
    """An unguessable token for a backend's inbound webhook URL."""
    return pysecrets.token_urlsafe(24)


class FinanceSyncBackend(models.Model):
    _inherit = "finance.sync.backend"

    # === FIELDS === #

    auth_mode = fields.Selection(
        [("none", "None"), ("bearer", "Bearer token"), ("basic", "Basic (user + password)")],
        string="Authentication",
        required=True,
        default="none",
        tracking=True,
        help="How Odoo proves who it is to the platform, besides the signature of each event.",
    )
    auth_username = fields.Char("User name", tracking=True, help="For Basic authentication.")
    auth_secret = fields.Char(
        "Token / password",
        compute="_compute_write_only_secrets",
        inverse="_inverse_auth_secret",
        readonly=False,
        help="Write-only: stored encrypted, never shown again.",
    )
    auth_secret_encrypted = fields.Char(groups="base.group_system", copy=False, exportable=False)
    has_auth_secret = fields.Boolean(
        compute="_compute_has_secrets", help="A token or password is stored (it is never shown)."
    )
    signing_enabled = fields.Boolean(
        "Sign with Standard Webhooks",
        default=True,
        tracking=True,
        help="Adds webhook-id, webhook-timestamp and webhook-signature (HMAC-SHA256) headers.",
    )
    signing_secret = fields.Char(
        "Signing secret",
        compute="_compute_write_only_secrets",
        inverse="_inverse_signing_secret",
        readonly=False,
        help="Write-only whsec_… secret shared with the platform, used to sign outbound and verify inbound events.",
    )
    signing_secret_encrypted = fields.Char(groups="base.group_system", copy=False, exportable=False)
    signing_secret_previous_encrypted = fields.Char(groups="base.group_system", copy=False, exportable=False)
    signing_secret_rotated_at = fields.Datetime(
        "Secret rotated on", readonly=True, copy=False, help="When the signing secret was last replaced."
    )
    signing_overlap_hours = fields.Integer(
        "Rotation overlap (hours)",
        default=const.DEFAULT_SECRET_OVERLAP_HOURS,
        help="After a rotation the previous secret stays valid this long, so the platform can switch over.",
    )
    signing_secret_unseen = fields.Boolean(
        "Generated secret not shown yet",
        readonly=True,
        copy=False,
        help="Odoo generated the signing secret and nobody has seen it: show it once and give it to the platform.",
    )
    has_signing_secret = fields.Boolean(
        compute="_compute_has_secrets", help="A signing secret is stored (it is never shown)."
    )
    warehouse_password = fields.Char(
        "Warehouse password",
        compute="_compute_write_only_secrets",
        inverse="_inverse_warehouse_password",
        readonly=False,
        help="Write-only: stored encrypted, never shown again.",
    )
    warehouse_password_encrypted = fields.Char(groups="base.group_system", copy=False, exportable=False)
    has_warehouse_password = fields.Boolean(
        compute="_compute_has_secrets", help="A warehouse password is stored (it is never shown)."
    )
    broker_password = fields.Char(
        "Broker password",
        compute="_compute_write_only_secrets",
        inverse="_inverse_broker_password",
        readonly=False,
        help="Write-only: stored encrypted, never shown again.",
    )
    broker_password_encrypted = fields.Char(groups="base.group_system", copy=False, exportable=False)
    has_broker_password = fields.Boolean(
        compute="_compute_has_secrets", help="A broker password is stored (it is never shown)."
    )
    webhook_token = fields.Char(
        copy=False,
        readonly=True,
        index="btree_not_null",
        default=lambda self: new_webhook_token(),
        groups="finance_sync.finance_sync_group_admin",
        help="Unguessable part of this backend's inbound webhook URL, generated by Odoo (Regenerate). "
        "Treat it as a secret: anyone who has it can reach the endpoint (signatures are still checked).",
    )
    inbound_url = fields.Char(
        "Inbound webhook URL",
        compute="_compute_inbound_url",
        groups="finance_sync.finance_sync_group_admin",
        help="Where the platform posts its signed status updates (delivery, payment and invoice status).",
    )

    # === CONSTRAINTS === #

    _webhook_token_uniq = models.UniqueIndex("(webhook_token)", "Webhook tokens must be unique.")

    # === COMPUTE METHODS === #

    def _compute_write_only_secrets(self):
        # Never read back: the form always shows an empty field.
        self.auth_secret = False
        self.signing_secret = False
        self.warehouse_password = False
        self.broker_password = False

    @api.depends("auth_mode")
    def _compute_has_secrets(self):
        for backend, stored in zip(self, self.sudo(), strict=True):
            backend.has_auth_secret = bool(stored.auth_secret_encrypted)
            backend.has_signing_secret = bool(stored.signing_secret_encrypted)
            backend.has_warehouse_password = bool(stored.warehouse_password_encrypted)
            backend.has_broker_password = bool(stored.broker_password_encrypted)

    @api.depends("webhook_token")
    def _compute_inbound_url(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "")
        for backend in self:
            token = backend.sudo().webhook_token
            backend.inbound_url = f"{base.rstrip('/')}/finance_sync/webhook/{token}" if token else False

    # === INVERSE METHODS === #

    def _inverse_auth_secret(self):
        self._store_secret("auth_secret")

    def _inverse_warehouse_password(self):
        self._store_secret("warehouse_password")

    def _inverse_broker_password(self):
        self._store_secret("broker_password")

    def _inverse_signing_secret(self):
        for backend in self:
            if backend.signing_secret:
                try:
                    signing.secret_bytes(backend.signing_secret)
                except ValueError as exc:
                    raise ValidationError(self.env._("The signing secret is not valid: %s", exc)) from None
        self._store_secret("signing_secret")

    def _store_secret(self, fname):
        """Encrypt the clear values typed into write-only field ``fname``.

        The values are read before anything is written: a write may drop the cached values of
        the other records being saved together."""
        values = {backend: backend[fname] for backend in self if backend[fname]}
        box = secret_box(self.env)
        for backend, value in values.items():
            stored = backend.sudo()
            target = SECRET_FIELDS[fname]
            vals = {target: box.encrypt(value)}
            if fname == "signing_secret" and stored[target]:
                # Rotation: the previous secret stays valid for the overlap window (inbound).
                vals.update(
                    signing_secret_previous_encrypted=stored[target], signing_secret_rotated_at=fields.Datetime.now()
                )
                backend.message_post(body=self.env._("Signing secret rotated."))
            if fname == "signing_secret":
                vals["signing_secret_unseen"] = False  # typed by a person, who knows it
            internal(stored).write(vals)
        self.invalidate_recordset([fname])  # write-only: never keep the clear text, not even in cache

    # === CRUD METHODS === #

    @api.model
    def _generate_signing_secret(self, vals):
        """Generate the signing secret of a backend about to be created from ``vals`` that signs
        and was given none. :return: whether one was generated."""
        generated = vals.get("signing_enabled", True) and not vals.get("signing_secret")
        if generated:
            vals["signing_secret"] = signing.generate_secret()
        return generated

    def _mark_generated_secrets(self, generated):
        """The backends just created whose signing secret Odoo generated (one flag per backend in
        ``generated``) show it once, on request (action_reveal_signing_secret)."""
        unseen = self.browse(b.id for b, gen in zip(self, generated, strict=True) if gen)
        internal(unseen.sudo()).write({"signing_secret_unseen": True})

    # === ACTION METHODS === #

    def action_regenerate_webhook_token(self):
        """Give these backends a new inbound webhook URL: the old one stops answering at once, so
        the platform must be given the new one. Tokens are always generated, never typed."""
        self.check_access("write")
        tokens = {backend: new_webhook_token() for backend in self}
        for backend, token in tokens.items():
            backend._check_authority_fields({"webhook_token": token})
        for backend, token in tokens.items():
            internal(backend).write({"webhook_token": token})
            backend._post_security_change(
                self.env._("regenerated the webhook token (the inbound URL changed)"), backend._authorities()
            )
        return True

    def action_reveal_signing_secret(self):
        """Show the signing secret Odoo generated, once, to a person who may configure this
        backend (and, for a payment authority, manage its payments): the platform needs it to
        verify what Odoo sends. The chatter says who saw it."""
        self.ensure_one()
        self.check_access("write")
        # Whoever sees the secret can sign in this backend's name, as whoever chooses it.
        self._check_authority_fields({"signing_secret": "reveal"})
        if not self.signing_secret_unseen:
            raise UserError(
                self.env._(
                    "The signing secret was shown already (or typed by a person). To give the platform a new "
                    "one, type it in Signing secret: the previous one stays valid during the overlap."
                )
            )
        secret = self._get_secret("signing")
        internal(self.sudo()).write({"signing_secret_unseen": False})
        self.message_post(body=self.env._("The generated signing secret was shown to %s.", self.env.user.name))
        reveal = self.env["finance.sync.secret.reveal"].create(
            {"backend_id": self.id, "secret_encrypted": secret_box(self.env).encrypt(secret)}
        )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Signing secret"),
            "res_model": "finance.sync.secret.reveal",
            "res_id": reveal.id,
            "view_mode": "form",
            "target": "new",
        }

    # === BUSINESS METHODS === #

    def _get_secret(self, kind):
        """Decrypted secret (``auth`` or ``signing``); only for the dispatcher and controller."""
        self.ensure_one()
        token = self.sudo()[f"{kind}_secret_encrypted"]
        return secret_box(self.env).decrypt(token) if token else None

    def _get_inbound_secrets(self):
        """Secrets an inbound signature may use: the current one, and the previous one
        while the rotation overlap window lasts."""
        self.ensure_one()
        result = [self._get_secret("signing")]
        stored = self.sudo()
        if stored.signing_secret_previous_encrypted and self.signing_secret_rotated_at:
            until = self.signing_secret_rotated_at + timedelta(hours=self.signing_overlap_hours)
            if fields.Datetime.now() < until:
                result.append(secret_box(self.env).decrypt(stored.signing_secret_previous_encrypted))
        return [s for s in result if s]

    # --- inbound webhooks ------------------------------------------------------------------

    @api.model
    def _get_by_webhook_token(self, token):
        """The backend an inbound webhook URL designates; archived and draft backends do not
        answer (the caller cannot tell them from unknown tokens)."""
        if not token or len(token) > 128:
            return self.browse()
        return (
            self.sudo()
            .with_context(active_test=True)
            .search([("webhook_token", "=", token), ("state", "in", ("active", "paused"))], limit=1)
        )

    def _mask(self, text):
        """Mask this backend's secrets and personal data in text meant for logs and views."""
        return redact.mask_text(text or "", [s for s in (self._get_secret("auth"), self._get_secret("signing")) if s])
