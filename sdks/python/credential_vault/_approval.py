"""CIBA poll mode (issue 17 §3): ask the user at ``/oauth2/bc-authorize``, then poll ``/oauth2/token``."""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping, Optional, Sequence
from urllib.parse import urlencode

from ._errors_from import Answer, exchange_error
from ._http import call_vault
from .client_auth import ClientCredentials, authenticate
from .errors import ApprovalDenied, ApprovalExpired, ErrorInfo, VaultError

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
DEFAULT_INTERVAL = 5.0
#: Each pending answer stretches the wait a little, up to this many intervals.
BACKOFF_FACTOR = 1.25
MAX_BACKOFF_INTERVALS = 4


def run(
    url: str,
    credentials: ClientCredentials,
    timeout: float,
    now: Callable[[], float],
    sleep: Callable[[float], None],
    integrations: Sequence[str],
    user_token: str,
    binding_message: Optional[str],
    authorization_details: Optional[Sequence[Mapping[str, Any]]],
    requested_expiry: Optional[int],
    on_requested: Optional[Callable[[int, float], None]],
) -> Answer:
    """Asks, then polls until the user answers; returns the 200 answer (the token) or raises."""
    if not integrations or any(not isinstance(i, str) or not i for i in integrations):
        raise TypeError("integration is required")
    if not user_token:
        raise TypeError("with_approval needs user_token")
    form = {"scope": " ".join(f"connections:{i}" for i in integrations), "login_hint_token": user_token}
    if binding_message is not None:
        form["binding_message"] = binding_message
    if authorization_details is not None:
        form["authorization_details"] = json.dumps(list(authorization_details))
    if requested_expiry is not None:
        form["requested_expiry"] = str(requested_expiry)
    asked = _post(url, credentials, timeout, "/oauth2/bc-authorize", form)
    if asked.status != 200:
        raise exchange_error(asked)
    b = asked.body if isinstance(asked.body, dict) else {}
    auth_req_id, expires_in = b.get("auth_req_id"), b.get("expires_in")
    if not isinstance(auth_req_id, str) or not isinstance(expires_in, (int, float)):
        raise VaultError("invalid_response", status=asked.status, detail="bc-authorize answered without auth_req_id and expires_in")
    interval = float(b["interval"]) if isinstance(b.get("interval"), (int, float)) and b["interval"] > 0 else DEFAULT_INTERVAL
    deadline = now() + expires_in
    wait = interval
    if on_requested:
        on_requested(int(expires_in), interval)
    while True:
        if now() >= deadline:
            raise ApprovalExpired(detail="the user did not answer in time")
        sleep(wait)
        answer = _post(url, credentials, timeout, "/oauth2/token", {"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id})
        if answer.status == 200:
            return answer
        error = (answer.body if isinstance(answer.body, dict) else {}).get("error")
        if error == "authorization_pending":
            wait = min(wait * BACKOFF_FACTOR, interval * MAX_BACKOFF_INTERVALS)
        elif error == "slow_down":
            interval += 5
            wait = max(wait, interval)
        elif error == "access_denied":
            raise ApprovalDenied(**_info(answer))
        elif error == "expired_token":
            raise ApprovalExpired(**_info(answer))
        else:
            raise exchange_error(answer)


def _post(url: str, credentials: ClientCredentials, timeout: float, path: str, form: dict[str, str]) -> Answer:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    authenticate(credentials, form, headers)
    return call_vault("POST", f"{url}{path}", headers, urlencode(form).encode(), timeout)


def _info(answer: Answer) -> ErrorInfo:
    b = answer.body if isinstance(answer.body, dict) else {}
    d = b.get("error_description")
    return ErrorInfo(
        status=answer.status,
        vault_code=b.get("error") if isinstance(b.get("error"), str) else None,
        detail=d[:500] if isinstance(d, str) else None,
        request_id=answer.headers.get("x-request-id"),
    )
