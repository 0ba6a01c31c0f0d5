"""``with_approval`` (CIBA poll mode) against a local HTTP server standing in for the vault's two endpoints
(the browser flow itself is tested against the real vault in test/approvals)."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Iterator
from urllib.parse import parse_qs

import pytest

from credential_vault import ApprovalDenied, ApprovalExpired, ApprovalRequired, AsyncVaultClient, PolicyDenied, VaultClient
from credential_vault._errors_from import Answer, release_error

APPROVAL = "6f1c0b1e-8d7a-4c55-9f0e-0a1b2c3d4e5f"


def jwt(payload: dict[str, Any]) -> str:
    part = lambda v: base64.urlsafe_b64encode(json.dumps(v).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'ES256'})}.{part(payload)}.c2ln"


class Fake:
    def __init__(self) -> None:
        self.polls: list[tuple[int, Any]] = []
        self.seen: list[tuple[str, dict[str, list[str]]]] = []
        self.expires_in = 600

    def answer(self, path: str, form: dict[str, list[str]]) -> tuple[int, Any]:
        self.seen.append((path, form))
        if path == "/oauth2/bc-authorize":
            return 200, {"auth_req_id": "r" * 43, "expires_in": self.expires_in, "interval": 5}
        return self.polls.pop(0) if len(self.polls) > 1 else self.polls[0]


@pytest.fixture()
def fake() -> Iterator[tuple[Fake, str]]:
    f = Fake()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["content-length"])).decode()
            status, payload = f.answer(self.path, parse_qs(body))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


PENDING = (400, {"error": "authorization_pending"})


def client(url: str, waits: list[float], clock: list[float]) -> VaultClient:
    def sleep(s: float) -> None:
        waits.append(s)
        clock[0] += s

    return VaultClient(url, "mcp-1", client_secret="s3cret", now=lambda: clock[0], sleep=sleep)


def test_asks_then_polls_with_backoff_and_slow_down_until_the_token(fake: tuple[Fake, str]) -> None:
    f, url = fake
    token = jwt({"sub": "alice", "approval": APPROVAL})
    f.polls = [PENDING, PENDING, (400, {"error": "slow_down"}), PENDING, (200, {"access_token": token, "token_type": "Bearer", "expires_in": 300, "scope": "connections:gmail"})]
    waits: list[float] = []
    asked: list[tuple[int, float]] = []
    t = client(url, waits, [1000.0]).with_approval(
        "gmail",
        user_token="user-token",
        binding_message="Invoice 4711",
        authorization_details=[{"type": "email_send", "to": "billing@example.com"}],
        on_requested=lambda e, i: asked.append((e, i)),
    )
    assert t.approval_id == APPROVAL and t.scopes == ("connections:gmail",) and t.access_token == token
    assert asked == [(600, 5.0)]
    assert waits == [5.0, 6.25, 7.8125, 10.0, 12.5]
    path, form = f.seen[0]
    assert path == "/oauth2/bc-authorize"
    assert form["scope"] == ["connections:gmail"] and form["login_hint_token"] == ["user-token"] and form["binding_message"] == ["Invoice 4711"]
    assert json.loads(form["authorization_details"][0]) == [{"type": "email_send", "to": "billing@example.com"}]
    assert f.seen[1][1]["grant_type"] == ["urn:openid:params:grant-type:ciba"]


def test_denied_expired_and_no_answer_in_time(fake: tuple[Fake, str]) -> None:
    f, url = fake
    f.polls = [(400, {"error": "access_denied", "error_description": "the user denied the request"})]
    with pytest.raises(ApprovalDenied) as denied:
        client(url, [], [0.0]).with_approval("gmail", user_token="u")
    assert denied.value.code == "approval_denied" and denied.value.vault_code == "access_denied"
    f.polls = [(400, {"error": "expired_token"})]
    with pytest.raises(ApprovalExpired):
        client(url, [], [0.0]).with_approval("gmail", user_token="u")
    f.polls, f.expires_in = [PENDING], 12
    with pytest.raises(ApprovalExpired):
        client(url, [], [0.0]).with_approval("gmail", user_token="u")


def test_a_refusal_at_bc_authorize_and_approval_required_at_release(fake: tuple[Fake, str]) -> None:
    f, url = fake
    f.answer = lambda path, form: (400, {"error": "invalid_scope"})  # type: ignore[method-assign]
    with pytest.raises(PolicyDenied):
        client(url, [], [0.0]).with_approval(["gmail"], user_token="u")
    with pytest.raises(TypeError):
        client(url, [], [0.0]).with_approval("gmail", user_token="")
    e = release_error(Answer(status=403, headers={}, body={"code": "approval_required", "bc_authorize": "https://v/oauth2/bc-authorize"}), "gmail")
    assert isinstance(e, ApprovalRequired) and e.bc_authorize == "https://v/oauth2/bc-authorize"


def test_the_async_client_waits_in_a_thread(fake: tuple[Fake, str]) -> None:
    f, url = fake
    f.polls = [PENDING, (200, {"access_token": jwt({"approval": APPROVAL}), "token_type": "Bearer", "expires_in": 60, "scope": "connections:gmail"})]
    waits: list[float] = []
    vault = AsyncVaultClient(url, "mcp-1", client_secret="s3cret", sleep=waits.append)
    t = asyncio.run(vault.with_approval("gmail", user_token="u"))
    assert t.approval_id == APPROVAL and waits == [5.0, 6.25]
