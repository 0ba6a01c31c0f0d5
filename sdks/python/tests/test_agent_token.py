"""The agent acting for itself (issue 18 §2): ``agent_token()`` sends the agent's own federated token as the
``assertion`` of the jwt-bearer grant (RFC 7523 §2.1), no secret held; the vault token has no user and releases
tenant-level connections only. Against the running vault, like the other tests."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from credential_vault import ApiKeyRelease, AsyncVaultClient, InvalidToken, PolicyDenied, VaultClient

from conftest import World

AGENT = "py-runner"
SUBJECT = "system:serviceaccount:agents:py-runner"
AUDIENCE = "api://credential-vault"


def claims_of(jwt: str) -> dict[str, object]:
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def agent(world: World) -> World:
    issuer = world.federated_token(SUBJECT)["issuer"]
    world.admin("PUT", f"/v1/admin/agents/{AGENT}", {
        "name": "Python runner (workload identity)",
        "auth_method": "none",
        "federated_credentials": [{"issuer": issuer, "subject": SUBJECT, "audiences": [AUDIENCE]}],
    })
    world.admin("PUT", "/v1/admin/integrations/py-search", {"provider": "api_key", "level": "tenant"})
    world.admin("PUT", "/v1/admin/connections/py-search/tenant", {"api_key": "tenant-search-canary"})
    world.admin("PUT", "/v1/admin/policies/py-runner-search", {"agents": [AGENT], "integrations": ["py-search"], "effect": "allow"})
    return world


def federated(w: World, calls: list[int] | None = None):  # type: ignore[no-untyped-def]
    def source() -> str:
        if calls is not None:
            calls.append(1)
        return w.federated_token(SUBJECT, aud=AUDIENCE)["token"]

    return source


def test_agent_token_is_for_the_agent_itself_and_cached(agent: World) -> None:
    calls: list[int] = []
    vault = VaultClient(agent.url, AGENT, federated_assertion=federated(agent, calls))
    assert vault.auth_method == "federated"
    token = vault.agent_token(integrations=["py-search"])
    assert token.scopes == ("connections:py-search",)
    claims = claims_of(token.access_token)
    assert claims["sub"] == AGENT and claims["client_id"] == AGENT and claims["agent_only"] is True
    assert claims["act"] == {"sub": AGENT}
    assert vault.agent_token(integrations=["py-search"]) is token  # cached
    assert len(calls) == 1


def test_release_as_agent_gives_the_tenant_level_connection(agent: World) -> None:
    vault = VaultClient(agent.url, AGENT, federated_assertion=federated(agent))
    release = vault.release("py-search", as_agent=True)
    assert isinstance(release, ApiKeyRelease) and release.api_key == "tenant-search-canary"
    assert "tenant-search-canary" not in repr(release)
    assert vault.access_token("py-search", as_agent=True) == "tenant-search-canary"


def test_async_agent_token(agent: World) -> None:
    vault = AsyncVaultClient(agent.url, AGENT, federated_assertion=federated(agent))
    token = asyncio.run(vault.agent_token(scopes=["connections:py-search"]))
    assert claims_of(token.access_token)["agent_only"] is True


def test_refusals_are_typed(agent: World) -> None:
    # A per-user integration: nothing a token for the agent alone may hold.
    with pytest.raises(PolicyDenied):
        VaultClient(agent.url, AGENT, federated_assertion=federated(agent)).agent_token(integrations=["calendar"])
    # An assertion for another audience matches no federated credential: invalid_grant.
    wrong = VaultClient(agent.url, AGENT, federated_assertion=lambda: agent.federated_token(SUBJECT, aud="api://other")["token"])
    with pytest.raises(InvalidToken) as refused:
        wrong.agent_token(integrations=["py-search"])
    assert refused.value.vault_code == "invalid_grant"
    with pytest.raises(TypeError, match="federated_assertion"):
        VaultClient(agent.url, AGENT, client_secret="s").agent_token()
    with pytest.raises(TypeError, match="federated_assertion"):
        VaultClient(agent.url, AGENT, auth_method="federated")
