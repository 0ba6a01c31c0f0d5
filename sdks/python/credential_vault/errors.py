"""Typed exceptions for what the vault refuses.

``code`` is the SDK's stable code (the class says the same thing); ``vault_code`` is what the
vault answered: a problem+json ``code`` on the release path, an OAuth ``error`` on the token
endpoint. Messages and attributes carry only what the vault made public (its ``detail``),
never a token, key or client secret.
"""

from __future__ import annotations

from typing import Optional, Sequence, TypedDict, Unpack


class ErrorInfo(TypedDict, total=False):
    """What the vault's answer said about a refusal, beside its code."""

    status: int
    vault_code: Optional[str]
    detail: Optional[str]
    integration: Optional[str]
    request_id: Optional[str]
    error_id: Optional[str]


class VaultError(Exception):
    """Any refusal or failure of a vault call. ``status`` is 0 when there was no answer."""

    def __init__(
        self,
        code: str,
        *,
        status: int = 0,
        vault_code: Optional[str] = None,
        detail: Optional[str] = None,
        integration: Optional[str] = None,
        request_id: Optional[str] = None,
        error_id: Optional[str] = None,
    ) -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.status = status
        self.vault_code = vault_code
        self.detail = detail
        self.integration = integration
        #: The vault's ``X-Request-Id`` for this call, to find it in the vault's logs.
        self.request_id = request_id
        #: The opaque id of a vault-side 500.
        self.error_id = error_id


class NeedsReauth(VaultError):
    """409: the user's grant at the provider died; hand them ``connect_url`` to reconnect."""

    def __init__(self, connect_url: Optional[str], **kw: Unpack[ErrorInfo]) -> None:
        super().__init__("needs_reauth", **kw)
        self.connect_url = connect_url


class ConnectionNotFound(VaultError):
    """404: the user has no connection for the integration; ``connect_url`` when this agent may offer one."""

    def __init__(self, connect_url: Optional[str], **kw: Unpack[ErrorInfo]) -> None:
        super().__init__("connection_not_found", **kw)
        self.connect_url = connect_url


class PolicyDenied(VaultError):
    """Policy does not allow this agent the integration for this user (at exchange or at release)."""

    def __init__(self, **kw: Unpack[ErrorInfo]) -> None:
        super().__init__("policy_denied", **kw)


class ScopeExceedsPolicy(VaultError):
    """403: the grant is broader than policy allows and the provider cannot narrow it; ``excess_scopes`` names what is over."""

    def __init__(self, excess_scopes: Sequence[str], **kw: Unpack[ErrorInfo]) -> None:
        super().__init__("scope_exceeds_policy", **kw)
        self.excess_scopes = list(excess_scopes)


class ApprovalRequired(VaultError):
    """403: policy requires a human approval (CIBA) that the token does not carry; ask with ``with_approval``.
    ``bc_authorize`` says where, when the vault said."""

    def __init__(self, bc_authorize: Optional[str] = None, **kw: Unpack[ErrorInfo]) -> None:
        super().__init__("approval_required", **kw)
        self.bc_authorize = bc_authorize


class ApprovalDenied(VaultError):
    """``with_approval``: the user denied the request (or policy no longer allows what they approved)."""

    def __init__(self, **kw: Unpack[ErrorInfo]) -> None:
        super().__init__("approval_denied", **kw)


class ApprovalExpired(VaultError):
    """``with_approval``: no answer in time, or the approval's time ran out. Ask again."""

    def __init__(self, **kw: Unpack[ErrorInfo]) -> None:
        super().__init__("approval_expired", **kw)


class InvalidToken(VaultError):
    """The user token (at exchange) or the vault token (at release) was refused: expired, wrong audience, bad signature."""

    def __init__(self, **kw: Unpack[ErrorInfo]) -> None:
        super().__init__("invalid_token", **kw)


class RateLimited(VaultError):
    """429: ``retry_after`` seconds to wait, from ``Retry-After``."""

    def __init__(self, retry_after: Optional[int], **kw: Unpack[ErrorInfo]) -> None:
        super().__init__("rate_limited", **kw)
        self.retry_after = retry_after


class VaultUnavailable(VaultError):
    """The vault (or something it needs) is down, or did not answer in time. Nothing was released."""

    def __init__(self, retry_after: Optional[int] = None, **kw: Unpack[ErrorInfo]) -> None:
        super().__init__("unavailable", **kw)
        self.retry_after = retry_after
