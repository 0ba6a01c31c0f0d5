"""AsyncVaultClient against the running vault: same caching, same typed exceptions, awaitable."""

from __future__ import annotations

import asyncio

import pytest

from credential_vault import AsyncVaultClient, ConnectionNotFound, OAuthRelease

from conftest import World


def test_concurrent_awaits_share_one_exchange_and_one_release(world: World) -> None:
    vault = AsyncVaultClient(world.url, world.client_id, client_secret=world.client_secret)
    user_token = world.user_token("alice")
    before = world.releases("alice", "calendar")

    async def run() -> list[str]:
        return await asyncio.gather(*(vault.access_token("calendar", user_token=user_token) for _ in range(10)))

    tokens = asyncio.run(run())
    assert len(set(tokens)) == 1
    release = asyncio.run(vault.release("calendar", user_token=user_token))
    assert isinstance(release, OAuthRelease) and release.access_token == tokens[0]
    assert world.releases("alice", "calendar") == before + 1


def test_refusals_are_raised_to_the_awaiting_caller(world: World) -> None:
    vault = AsyncVaultClient(world.url, world.client_id, client_secret=world.client_secret)
    with pytest.raises(ConnectionNotFound) as missing:
        asyncio.run(vault.release("calendar", user_token=world.user_token("zoe")))
    assert (missing.value.connect_url or "").startswith("https://vault.test.example/connect/")
    token = asyncio.run(vault.exchange(world.user_token("alice"), integrations=["openai"]))
    assert token.scopes == ("connections:openai",)
