"""Async variants: the blocking client run in a worker thread with ``asyncio.to_thread``.

The standard library has no asyncio HTTP client; a vault call is one short request, so a thread per
call in flight is cheap, and the shared (thread-safe) cache still makes concurrent identical calls
one request. Each call takes a thread from the event loop's default executor.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

from .client import VaultClient
from .types import ApprovedToken, Release, VaultToken


class AsyncVaultClient:
    """``VaultClient`` for ``async`` code: same options (``AsyncVaultClient(url, client_id, client_secret=…)``),
    same caching and exceptions, awaitable methods."""

    def __init__(self, url: str, client_id: str, **options: Any) -> None:
        self.sync = VaultClient(url, client_id, **options)

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

    async def exchange(
        self, user_token: str, *, scopes: Sequence[str] = (), integrations: Sequence[str] = (), resource: Optional[str] = None, expires_in: Optional[int] = None
    ) -> VaultToken:
        return await asyncio.to_thread(self.sync.exchange, user_token, scopes=scopes, integrations=integrations, resource=resource, expires_in=expires_in)

    async def agent_token(self, *, scopes: Sequence[str] = (), integrations: Sequence[str] = (), expires_in: Optional[int] = None) -> VaultToken:
        return await asyncio.to_thread(self.sync.agent_token, scopes=scopes, integrations=integrations, expires_in=expires_in)

    async def release(
        self,
        integration: str,
        *,
        user_token: Optional[str] = None,
        vault_token: Optional[str] = None,
        scopes: Iterable[str] = (),
        as_agent: bool = False,
    ) -> Release:
        return await asyncio.to_thread(
            self.sync.release, integration, user_token=user_token, vault_token=vault_token, scopes=tuple(scopes), as_agent=as_agent
        )

    async def access_token(
        self,
        integration: str,
        *,
        user_token: Optional[str] = None,
        vault_token: Optional[str] = None,
        scopes: Iterable[str] = (),
        as_agent: bool = False,
    ) -> str:
        return (await self.release(integration, user_token=user_token, vault_token=vault_token, scopes=scopes, as_agent=as_agent)).secret

    async def with_approval(
        self,
        integration: Union[str, Sequence[str]],
        *,
        user_token: str,
        binding_message: Optional[str] = None,
        authorization_details: Optional[Sequence[Mapping[str, Any]]] = None,
        requested_expiry: Optional[int] = None,
        on_requested: Optional[Callable[[int, float], None]] = None,
    ) -> ApprovedToken:
        """``VaultClient.with_approval`` in a worker thread: it holds that thread while it waits for the
        user (up to the request's ``expires_in``), so keep ``requested_expiry`` short under heavy use."""
        return await asyncio.to_thread(
            self.sync.with_approval,
            integration,
            user_token=user_token,
            binding_message=binding_message,
            authorization_details=authorization_details,
            requested_expiry=requested_expiry,
            on_requested=on_requested,
        )

    def forget(self, integration: Optional[str] = None) -> None:
        self.sync.forget(integration)

    def clear(self) -> None:
        self.sync.clear()
