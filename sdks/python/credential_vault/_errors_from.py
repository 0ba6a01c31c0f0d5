"""The vault's refusals (problem+json on the release path, RFC 6749 errors at the token endpoint) as typed exceptions."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Mapping, Optional

from .errors import (
    ApprovalRequired,
    ConnectionNotFound,
    ErrorInfo,
    InvalidToken,
    NeedsReauth,
    PolicyDenied,
    RateLimited,
    ScopeExceedsPolicy,
    VaultError,
    VaultUnavailable,
)


@dataclass(frozen=True)
class Answer:
    """What came back from the vault, already read: status, headers (lower-case names) and the JSON body if it was JSON."""

    status: int
    headers: Mapping[str, str]
    body: Any


def release_error(answer: Answer, integration: str) -> VaultError:
    """A release-path refusal by its stable ``code``; without one (a proxy's HTML page, say) the status decides."""
    body = _object(answer.body)
    vault_code = body.get("code") if isinstance(body.get("code"), str) else None
    info = _info(answer, integration, vault_code, body.get("detail"))
    connect_url = body.get("connect_url") if isinstance(body.get("connect_url"), str) else None
    code = vault_code or _code_for_status(answer.status)
    if code == "needs_reauth":
        return NeedsReauth(connect_url, **info)
    if code == "connection_not_found":
        return ConnectionNotFound(connect_url, **info)
    if code == "policy_denied":
        return PolicyDenied(**info)
    if code == "scope_exceeds_policy":
        excess = body.get("excess_scopes")
        return ScopeExceedsPolicy([s for s in excess if isinstance(s, str)] if isinstance(excess, list) else [], **info)
    if code == "approval_required":
        bc = body.get("bc_authorize")
        return ApprovalRequired(bc if isinstance(bc, str) else None, **info)
    if code == "invalid_token":
        return InvalidToken(**info)
    if code == "rate_limited":
        return RateLimited(retry_after_of(answer.headers), **info)
    if code == "unavailable":
        return VaultUnavailable(retry_after_of(answer.headers), **info)
    return VaultError(code, **info)


_INVALID_SUBJECT = re.compile(r"^(subject|actor)_token is invalid")


def exchange_error(answer: Answer) -> VaultError:
    """A token-endpoint refusal. ``invalid_scope`` means policy granted none of the requested scopes;
    an invalid subject token is ``invalid_request`` there (RFC 8693 §2.2.2), told apart by its description."""
    body = _object(answer.body)
    vault_code = body.get("error") if isinstance(body.get("error"), str) else None
    description = body.get("error_description") if isinstance(body.get("error_description"), str) else None
    info = _info(answer, None, vault_code, description)
    if vault_code is None:
        return release_error(answer, "")
    if vault_code == "invalid_scope":
        return PolicyDenied(**info)
    if vault_code == "invalid_grant" or (vault_code == "invalid_request" and _INVALID_SUBJECT.match(description or "")):
        return InvalidToken(**info)
    if vault_code == "rate_limited":
        return RateLimited(retry_after_of(answer.headers), **info)
    if vault_code == "temporarily_unavailable":
        return VaultUnavailable(retry_after_of(answer.headers), **info)
    return VaultError(vault_code, **info)


def retry_after_of(headers: Mapping[str, str], now: Optional[float] = None) -> Optional[int]:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    raw = (headers.get("retry-after") or "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return int(raw)
    try:
        at = parsedate_to_datetime(raw).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0, int(-(-(at - (time.time() if now is None else now)) // 1)))


def _info(answer: Answer, integration: Optional[str], vault_code: Optional[str], detail: Any) -> ErrorInfo:
    body = _object(answer.body)
    return ErrorInfo(
        status=answer.status,
        vault_code=vault_code,
        detail=detail[:500] if isinstance(detail, str) else None,
        integration=integration or None,
        request_id=answer.headers.get("x-request-id"),
        error_id=body.get("error_id") if isinstance(body.get("error_id"), str) else None,
    )


def _code_for_status(status: int) -> str:
    if status == 401:
        return "invalid_token"
    if status == 429:
        return "rate_limited"
    if status in (502, 503, 504):
        return "unavailable"
    if status >= 500:
        return "internal_error"
    return f"http_{status}"


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
