"""Mapping of answers the test vault does not give on demand (429, 503, scope ceiling, approval)."""

from __future__ import annotations

from credential_vault import ApprovalRequired, RateLimited, ScopeExceedsPolicy, VaultError, VaultUnavailable
from credential_vault._errors_from import Answer, exchange_error, release_error, retry_after_of


def problem(status: int, body: object, **headers: str) -> Answer:
    return Answer(status=status, headers={"x-request-id": "req-1", **headers}, body=body)


def test_release_refusals_by_code() -> None:
    limited = release_error(problem(429, {"code": "rate_limited"}, **{"retry-after": "7"}), "calendar")
    assert isinstance(limited, RateLimited) and limited.retry_after == 7 and limited.request_id == "req-1"
    down = release_error(problem(503, {"code": "unavailable", "detail": "key provider down"}, **{"retry-after": "3"}), "calendar")
    assert isinstance(down, VaultUnavailable) and down.retry_after == 3 and str(down) == "unavailable: key provider down"
    over = release_error(problem(403, {"code": "scope_exceeds_policy", "excess_scopes": ["calendar.write", 5]}), "calendar")
    assert isinstance(over, ScopeExceedsPolicy) and over.excess_scopes == ["calendar.write"]
    assert isinstance(release_error(problem(403, {"code": "approval_required"}), "calendar"), ApprovalRequired)


def test_without_a_code_the_status_decides() -> None:
    assert isinstance(release_error(problem(502, None), "calendar"), VaultUnavailable)
    assert isinstance(release_error(problem(429, "<html>"), "calendar"), RateLimited)
    other = release_error(problem(418, None), "calendar")
    assert type(other) is VaultError and other.code == "http_418"


def test_token_endpoint_errors() -> None:
    assert isinstance(exchange_error(problem(503, {"error": "temporarily_unavailable"})), VaultUnavailable)
    assert exchange_error(problem(401, {"error": "invalid_client"})).code == "invalid_client"
    assert exchange_error(problem(400, {"error": "invalid_request", "error_description": "subject_token is invalid"})).code == "invalid_token"


def test_retry_after_as_a_date() -> None:
    assert retry_after_of({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0) == 10
    assert retry_after_of({"retry-after": "soon"}) is None
