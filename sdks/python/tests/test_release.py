"""The Python SDK against the running vault: real token exchange, real releases (API key, and OAuth
connected through the real connect flow at oidc-provider), the vault's real refusals as typed exceptions."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from credential_vault import (
    ApiKeyRelease,
    ConnectionNotFound,
    InvalidToken,
    NeedsReauth,
    OAuthRelease,
    PolicyDenied,
    VaultClient,
    VaultError,
    VaultUnavailable,
)
from credential_vault.client_auth import ClientCredentials, sign_assertion

from conftest import World


def client(w: World, **extra: object) -> VaultClient:
    return VaultClient(w.url, w.client_id, client_secret=w.client_secret, **extra)  # type: ignore[arg-type]


def claims_of(jwt: str) -> dict[str, object]:
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def test_exchange_with_client_secret_basic_then_release_the_api_key(world: World) -> None:
    token = client(world).exchange(world.user_token("alice"), integrations=["openai"])
    assert token.scopes == ("connections:openai",)
    assert claims_of(token.access_token)["sub"] == "alice"
    assert claims_of(token.access_token)["act"] == {"sub": "mcp-1"}
    assert "access_token=" not in repr(token) and token.access_token not in repr(token)

    release = client(world).release("openai", user_token=world.user_token("alice"))
    assert release == ApiKeyRelease(integration="openai", api_key="sk-alice-openai")
    assert "sk-alice-openai" not in repr(release)
    assert client(world).access_token("openai", vault_token=token.access_token) == "sk-alice-openai"


def test_client_secret_post(world: World) -> None:
    secret = world.admin("PUT", "/v1/admin/agents/py-post", {"name": "py post", "auth_method": "client_secret_post"})["client_secret"]
    world.admin("PUT", "/v1/admin/policies/py-post-openai", {"agents": ["py-post"], "integrations": ["openai"], "effect": "allow"})
    vault = VaultClient(world.url, "py-post", client_secret=secret, auth_method="client_secret_post")
    assert vault.access_token("openai", user_token=world.user_token("alice")) == "sk-alice-openai"


def _rsa_agent(world: World, tmp_path: Path, client_id: str) -> tuple[Path, str]:
    """An RSA key made by openssl, its public half registered as the agent's JWKS."""
    key = tmp_path / f"{client_id}.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)], check=True, capture_output=True)
    modulus = subprocess.run(["openssl", "rsa", "-in", str(key), "-noout", "-modulus"], check=True, capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    n = base64.urlsafe_b64encode(bytes.fromhex(modulus)).rstrip(b"=").decode()
    jwk = {"kty": "RSA", "n": n, "e": "AQAB", "kid": "py-k1", "alg": "RS256", "use": "sig"}
    world.admin("PUT", f"/v1/admin/agents/{client_id}", {"name": client_id, "auth_method": "private_key_jwt", "jwks": {"keys": [jwk]}})
    world.admin("PUT", f"/v1/admin/policies/{client_id}-openai", {"agents": [client_id], "integrations": ["openai"], "effect": "allow"})
    return key, "py-k1"


def _openssl_signer(key: Path):  # type: ignore[no-untyped-def]
    def sign(signing_input: bytes) -> bytes:
        return subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key)], input=signing_input, check=True, capture_output=True).stdout

    return sign


def test_private_key_jwt_with_an_injected_signer(world: World, tmp_path: Path) -> None:
    key, kid = _rsa_agent(world, tmp_path, "py-jwt")
    signed: list[bytes] = []
    openssl = _openssl_signer(key)

    def signer(data: bytes) -> bytes:
        signed.append(data)
        return openssl(data)  # type: ignore[no-any-return]

    vault = VaultClient(world.url, "py-jwt", signer=signer, key_id=kid, public_url=world.public_url)
    assert vault.auth_method == "private_key_jwt"
    assert vault.access_token("openai", user_token=world.user_token("alice")) == "sk-alice-openai"
    # Each exchange signs a new assertion (the vault accepts each jti once).
    vault.clear()
    assert vault.access_token("openai", user_token=world.user_token("alice")) == "sk-alice-openai"
    assert len(signed) == 2
    header = json.loads(base64.urlsafe_b64decode(signed[0].split(b".")[0] + b"=="))
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "py-k1"}


def test_private_key_jwt_with_an_assertion_made_elsewhere_is_passed_through(world: World, tmp_path: Path) -> None:
    key, kid = _rsa_agent(world, tmp_path, "py-federated")
    made = ClientCredentials(client_id="py-federated", method="private_key_jwt", audience=f"{world.public_url}/oauth2/token", signer=_openssl_signer(key), key_id=kid)
    handed: list[str] = []

    def assertion() -> str:
        handed.append(sign_assertion(made))
        return handed[-1]

    vault = VaultClient(world.url, "py-federated", client_assertion=assertion)
    assert vault.access_token("openai", user_token=world.user_token("alice")) == "sk-alice-openai"
    assert len(handed) == 1
    # A wrong assertion is refused by the vault, not papered over.
    bad = VaultClient(world.url, "py-federated", client_assertion=lambda: handed[0])  # replayed jti
    with pytest.raises(VaultError) as refused:
        bad.exchange(world.user_token("alice"), integrations=["openai"])
    assert refused.value.code == "invalid_client" and refused.value.status == 401


def test_oauth_release_is_cached_until_shortly_before_expiry(world: World) -> None:
    vault = client(world)
    user_token = world.user_token("alice")
    before = world.releases("alice", "calendar")
    first = vault.release("calendar", user_token=user_token)
    assert isinstance(first, OAuthRelease)
    assert first.type == "oauth2" and first.token_type == "Bearer" and "calendar.read" in first.scopes
    assert first.expires_at is not None
    assert first.access_token not in repr(first)

    threads = [threading.Thread(target=lambda: results.append(vault.release("calendar", user_token=user_token))) for _ in range(8)]
    results: list[object] = []
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r is first for r in results)
    assert world.releases("alice", "calendar") == before + 1

    # Within `expiry_skew_seconds` (30) of `expires_at` the cached token is not used: the vault is asked again.
    clock = [time.time()]
    later = client(world, now=lambda: clock[0])
    expires_at = datetime.fromisoformat(later.release("calendar", user_token=user_token).expires_at or "").timestamp()  # type: ignore[union-attr]
    clock[0] = expires_at - 31
    later.release("calendar", user_token=user_token)
    assert world.releases("alice", "calendar") == before + 2
    clock[0] = expires_at - 29
    later.release("calendar", user_token=user_token)
    assert world.releases("alice", "calendar") == before + 3


def test_concurrent_first_calls_make_one_release(world: World) -> None:
    vault = client(world, api_key_cache_seconds=60)
    user_token = world.user_token("alice")
    before = world.releases("alice", "openai")
    keys: list[str] = []
    threads = [threading.Thread(target=lambda: keys.append(vault.access_token("openai", user_token=user_token))) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert keys == ["sk-alice-openai"] * 10
    assert world.releases("alice", "openai") == before + 1


def test_policy_denied_at_exchange_and_at_release(world: World) -> None:
    with pytest.raises(PolicyDenied) as at_exchange:
        client(world).release("github", user_token=world.user_token("alice"))
    assert (at_exchange.value.status, at_exchange.value.vault_code) == (400, "invalid_scope")

    token = client(world).exchange(world.user_token("alice"), integrations=["openai"])
    world.admin("PUT", "/v1/admin/policies/py-no-alice-openai", {"agents": ["*"], "integrations": ["openai"], "users": {"subjects": ["alice"]}, "effect": "deny"})
    try:
        with pytest.raises(PolicyDenied) as at_release:
            client(world).release("openai", vault_token=token.access_token)
        assert (at_release.value.status, at_release.value.vault_code, at_release.value.integration) == (403, "policy_denied", "openai")
        assert at_release.value.request_id
    finally:
        world.admin("DELETE", "/v1/admin/policies/py-no-alice-openai")


def test_no_connection_is_connection_not_found_with_the_connect_url(world: World) -> None:
    with pytest.raises(ConnectionNotFound) as missing:
        client(world).release("calendar", user_token=world.user_token("zoe"))
    assert missing.value.status == 404
    assert (missing.value.connect_url or "").startswith("https://vault.test.example/connect/")


def test_a_revoked_grant_is_needs_reauth_with_the_connect_url_and_nothing_cached(world: World) -> None:
    world.connect("bob")
    world.break_grant("bob")
    vault = client(world)
    with pytest.raises(NeedsReauth) as reauth:
        vault.release("calendar", user_token=world.user_token("bob"))
    assert (reauth.value.code, reauth.value.status, reauth.value.integration) == ("needs_reauth", 409, "calendar")
    assert (reauth.value.connect_url or "").startswith("https://vault.test.example/connect/")
    assert world.client_secret not in str(reauth.value) + repr(reauth.value)
    with pytest.raises(NeedsReauth):
        vault.release("calendar", user_token=world.user_token("bob"))


def test_expired_user_token_is_invalid_token_and_a_wrong_secret_invalid_client(world: World) -> None:
    with pytest.raises(InvalidToken):
        client(world).release("openai", user_token=world.user_token("alice", ttl=-120))
    with pytest.raises(VaultError) as wrong:
        VaultClient(world.url, "mcp-1", client_secret="not-the-secret").release("openai", user_token=world.user_token("alice"))
    assert (wrong.value.code, wrong.value.status) == ("invalid_client", 401)
    assert "not-the-secret" not in str(wrong.value) + repr(wrong.value.__dict__)


def test_a_vault_that_cannot_be_reached_is_vault_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(VaultUnavailable) as down:
        VaultClient(f"http://127.0.0.1:{port}", "mcp-1", client_secret="s").release("openai", user_token="t")
    assert down.value.status == 0 and down.value.detail == "the vault could not be reached"


def test_a_vault_that_does_not_answer_in_time_is_vault_unavailable() -> None:
    with socket.socket() as silent:  # listens (the connection is made) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(VaultUnavailable) as slow:
            VaultClient(url, "mcp-1", client_secret="s", timeout_seconds=0.5).release("openai", user_token="t")
    assert slow.value.status == 0 and slow.value.detail == "the vault did not answer within 0.5 s"
