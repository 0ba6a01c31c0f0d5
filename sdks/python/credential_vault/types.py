"""What the vault hands out (CONTRACT.md "Release", RFC 8693). Frozen (callers share cached values);
their ``repr`` never shows the secret, so printing or logging one does not leak it."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Mapping, Optional, Tuple, Union


@dataclass(frozen=True)
class OAuthRelease:
    """A released OAuth access token. ``expires_at`` is ISO 8601, or None when the provider did not say."""

    integration: str
    access_token: str = field(repr=False)
    expires_at: Optional[str]
    scopes: Tuple[str, ...]
    #: Provider extras, e.g. Salesforce's ``instance_url``.
    metadata: Mapping[str, Any] = field(default_factory=dict)
    token_type: Literal["Bearer"] = "Bearer"
    type: Literal["oauth2"] = "oauth2"

    @property
    def secret(self) -> str:
        """What to present to the provider."""
        return self.access_token


@dataclass(frozen=True)
class ApiKeyRelease:
    """A released API key."""

    integration: str
    api_key: str = field(repr=False)
    type: Literal["api_key"] = "api_key"

    @property
    def secret(self) -> str:
        return self.api_key


Release = Union[OAuthRelease, ApiKeyRelease]


@dataclass(frozen=True)
class VaultToken:
    """A vault token from the token service: the user is its subject, this agent its actor."""

    access_token: str = field(repr=False)
    expires_at: datetime
    #: The scopes policy granted; refused ones are simply absent.
    scopes: Tuple[str, ...]
    token_type: Literal["Bearer"] = "Bearer"


@dataclass(frozen=True)
class ApprovedToken(VaultToken):
    """A vault token from an approval (CIBA): release with it as ``vault_token=t.access_token``."""

    #: The approval's id (the token's ``approval`` claim), as the vault's audit names it.
    approval_id: Optional[str] = None


def parse_release(body: Any) -> Optional[Release]:
    """The release path's 200 answer, checked against the contract; None if it is not one."""
    if not isinstance(body, dict) or not isinstance(body.get("integration"), str):
        return None
    if body.get("type") == "api_key" and isinstance(body.get("api_key"), str):
        return ApiKeyRelease(integration=body["integration"], api_key=body["api_key"])
    if body.get("type") == "oauth2" and isinstance(body.get("access_token"), str):
        scopes = body.get("scopes")
        metadata = body.get("metadata")
        return OAuthRelease(
            integration=body["integration"],
            access_token=body["access_token"],
            expires_at=body["expires_at"] if isinstance(body.get("expires_at"), str) else None,
            scopes=tuple(s for s in scopes if isinstance(s, str)) if isinstance(scopes, list) else (),
            metadata=dict(metadata) if isinstance(metadata, dict) else {},
        )
    return None


def principal_of(vault_token: str) -> str:
    """Who a vault token speaks for: issuer, tenant, user and actor chain. Read without verifying,
    which is sound only for tokens this client got from the vault's token endpoint itself."""
    p = _payload(vault_token)
    if p is None:
        return "t:" + digest(vault_token)
    actors = []
    act = p.get("act")
    while isinstance(act, dict) and len(actors) < 10:
        actors.append(act.get("sub"))
        act = act.get("act")
    return "p:" + json.dumps([p.get("iss"), p.get("tid"), p.get("sub"), actors, p.get("client_id")])


def token_expiry(token: str) -> Optional[float]:
    """``exp`` of a JWT in epoch seconds, if it has one."""
    exp = (_payload(token) or {}).get("exp")
    return float(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None


def digest(token: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode()).digest()).rstrip(b"=").decode()


def _payload(token: str) -> Optional[dict[str, Any]]:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def approval_of(token: str) -> Optional[str]:
    """The ``approval`` claim of a vault token from an approval, if it has one."""
    a = (_payload(token) or {}).get("approval")
    return a if isinstance(a, str) else None
