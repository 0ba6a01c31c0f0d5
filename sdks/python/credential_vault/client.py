"""The vault for an agent: token exchange (RFC 8693) and credential release, cached and typed."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union
from urllib.parse import quote, urlencode

from . import _approval
from ._cache import TtlCache
from ._errors_from import Answer, exchange_error, release_error
from ._http import call_vault
from .client_auth import AssertionAlgorithm, AssertionSource, ClientAuthMethod, ClientCredentials, Signer, authenticate
from .errors import InvalidToken, VaultError
from .types import ApiKeyRelease, ApprovedToken, Release, VaultToken, approval_of, digest, parse_release, principal_of, token_expiry

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class VaultClient:
    """Exchanges a user's token for a vault token and releases the user's credential for an integration.

    Access tokens are reused until shortly before they expire, exchanged tokens too; concurrent
    identical calls (threads) make one request. Refusals are typed exceptions (``NeedsReauth``
    carries the ``connect_url`` to hand to the user). Safe to share between threads.

    Example::

        vault = VaultClient("https://vault.example.com", "mcp-1", client_secret=secret)
        token = vault.access_token("calendar", user_token=user_token)
    """

    def __init__(
        self,
        url: str,
        client_id: str,
        *,
        client_secret: Optional[str] = None,
        auth_method: Optional[ClientAuthMethod] = None,
        signer: Optional[Signer] = None,
        algorithm: AssertionAlgorithm = "RS256",
        key_id: Optional[str] = None,
        client_assertion: Optional[AssertionSource] = None,
        federated_assertion: Optional[AssertionSource] = None,
        public_url: Optional[str] = None,
        expiry_skew_seconds: float = 30,
        api_key_cache_seconds: float = 0,
        timeout_seconds: float = 10,
        max_cache_entries: int = 1000,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """
        :param url: where this agent reaches the vault, e.g. ``https://vault.example.com``.
        :param client_id: the agent's client id (``PUT /v1/admin/agents/{client_id}``).
        :param auth_method: default ``client_secret_basic`` with a ``client_secret``, else ``private_key_jwt``.
        :param signer: ``private_key_jwt``: signs assertions made here with the key whose public half the agent registered.
        :param client_assertion: ``private_key_jwt``: returns a complete assertion per call instead (a federated credential).
        :param federated_assertion: ``federated``: returns the agent's own token from a trusted issuer, matched by the
            agent's federated credentials. No secret is held. Also the assertion of ``agent_token()``.
        :param public_url: the vault's ``VAULT_PUBLIC_URL`` when ``url`` is another address for it; assertions are for ``<public_url>/oauth2/token``.
        :param expiry_skew_seconds: a cached token is used until this long before it expires (at most half its lifetime).
        :param api_key_cache_seconds: API keys do not expire: how long to reuse one. 0 asks the vault every time, so a rotation applies at once.
        """
        if not url or not client_id:
            raise TypeError("VaultClient needs url and client_id")
        self.url = url.rstrip("/")
        self.client_id = client_id
        method: ClientAuthMethod = auth_method or (
            "client_secret_basic" if client_secret is not None else "federated" if federated_assertion is not None else "private_key_jwt"
        )
        self.auth_method = method
        is_secret = method in ("client_secret_basic", "client_secret_post")
        if is_secret and not client_secret:
            raise TypeError(f"{method} needs client_secret")
        if method == "private_key_jwt" and signer is None and client_assertion is None:
            raise TypeError("private_key_jwt needs signer or client_assertion")
        if method == "federated" and federated_assertion is None:
            raise TypeError("federated needs federated_assertion")
        self._federated = federated_assertion
        self._credentials = ClientCredentials(
            client_id=client_id,
            method=method,
            audience=f"{(public_url or self.url).rstrip('/')}/oauth2/token",
            secret=client_secret if is_secret else None,
            signer=None if is_secret else signer,
            algorithm=algorithm,
            key_id=key_id,
            assertion=None if is_secret else federated_assertion if method == "federated" else client_assertion,
        )
        self._now = now
        self._sleep = sleep
        self._skew = expiry_skew_seconds
        self._api_key_ttl = api_key_cache_seconds
        self._timeout = timeout_seconds
        self._exchanges: TtlCache[VaultToken] = TtlCache(now, max_cache_entries)
        self._releases: TtlCache[Release] = TtlCache(now, max_cache_entries)
        self._agent_tokens: TtlCache[VaultToken] = TtlCache(now, max_cache_entries)

    def __repr__(self) -> str:
        return f"VaultClient(url={self.url!r}, client_id={self.client_id!r}, auth_method={self.auth_method!r})"

    def exchange(
        self,
        user_token: str,
        *,
        scopes: Sequence[str] = (),
        integrations: Sequence[str] = (),
        resource: Optional[str] = None,
        expires_in: Optional[int] = None,
    ) -> VaultToken:
        """Exchanges the user's token for a vault token carrying the scopes policy grants this agent. Cached."""
        wanted = _scopes(scopes, integrations)
        return self._exchange(user_token, wanted, resource, expires_in)[0]

    def agent_token(self, *, scopes: Sequence[str] = (), integrations: Sequence[str] = (), expires_in: Optional[int] = None) -> VaultToken:
        """A vault token for the agent itself, no user: the jwt-bearer grant (RFC 7523 §2.1) with ``federated_assertion``'s
        token. It releases tenant-level connections only. Cached until shortly before it expires."""
        federated = self._federated
        if federated is None:
            raise TypeError("agent_token needs federated_assertion")
        wanted = _scopes(scopes, integrations)

        def load() -> VaultToken:
            form = {"grant_type": JWT_BEARER_GRANT, "assertion": federated(), "client_id": self.client_id}
            if wanted:
                form["scope"] = " ".join(wanted)
            if expires_in is not None:
                form["expires_in"] = str(expires_in)
            return self._token_call(form, authenticate_client=False)

        key = "\0".join([" ".join(wanted), "" if expires_in is None else str(expires_in)])
        return self._agent_tokens.get(key, load, lambda t: self._good_until(t.expires_at.timestamp()))[0]

    def release(
        self,
        integration: str,
        *,
        user_token: Optional[str] = None,
        vault_token: Optional[str] = None,
        scopes: Iterable[str] = (),
        as_agent: bool = False,
    ) -> Release:
        """The user's credential for ``integration``. With ``user_token`` it is exchanged first (for
        ``connections:<integration>``); with ``vault_token`` that is used as it is; with ``as_agent=True`` the
        agent's own token (``agent_token()``) releases a tenant-level connection. ``scopes`` downscopes."""
        if not isinstance(integration, str) or not integration:
            raise TypeError("integration is required")
        wanted_scopes = sorted(set(scopes))
        if vault_token:
            return self._release_with(vault_token, "t:" + digest(vault_token), integration, wanted_scopes)
        if as_agent:
            own = self.agent_token(integrations=[integration])
            return self._release_with(own.access_token, f"a:{self.client_id}", integration, wanted_scopes)
        if not user_token:
            raise TypeError("release needs user_token, vault_token or as_agent=True")
        wanted = [f"connections:{integration}"]
        first, fresh = self._exchange(user_token, wanted, None, None)
        try:
            return self._release_with(first.access_token, principal_of(first.access_token), integration, wanted_scopes)
        except InvalidToken:
            # A cached vault token the vault no longer takes (its signing key retired, the agent re-registered): once more, freshly.
            if fresh:
                raise
            self._exchanges.delete(_exchange_key(user_token, wanted, None, None))
            again, _ = self._exchange(user_token, wanted, None, None)
            return self._release_with(again.access_token, principal_of(again.access_token), integration, wanted_scopes)

    def access_token(
        self,
        integration: str,
        *,
        user_token: Optional[str] = None,
        vault_token: Optional[str] = None,
        scopes: Iterable[str] = (),
        as_agent: bool = False,
    ) -> str:
        """The secret to present to the provider: the access token, or the API key."""
        return self.release(integration, user_token=user_token, vault_token=vault_token, scopes=scopes, as_agent=as_agent).secret

    def with_approval(
        self,
        integration: Union[str, Sequence[str]],
        *,
        user_token: str,
        binding_message: Optional[str] = None,
        authorization_details: Optional[Sequence[Mapping[str, Any]]] = None,
        requested_expiry: Optional[int] = None,
        on_requested: Optional[Callable[[int, float], None]] = None,
    ) -> ApprovedToken:
        """Asks the user to approve this agent's use of ``integration`` (CIBA, when policy requires it)
        and waits for the answer, polling with backoff (at least the vault's ``interval``; ``slow_down``
        adds 5 s). Returns a token carrying the approval (release with ``vault_token=t.access_token``);
        raises ``ApprovalDenied`` or ``ApprovalExpired``. Not cached: each call asks."""
        integrations = [integration] if isinstance(integration, str) else list(integration)
        answer = _approval.run(
            self.url,
            self._credentials,
            self._timeout,
            self._now,
            self._sleep,
            integrations,
            user_token,
            binding_message,
            authorization_details,
            requested_expiry,
            on_requested,
        )
        t = self._parse_exchange(answer)
        return ApprovedToken(access_token=t.access_token, expires_at=t.expires_at, scopes=t.scopes, approval_id=approval_of(t.access_token))

    def forget(self, integration: Optional[str] = None) -> None:
        """Forgets cached credentials (of one integration), e.g. after the provider answered 401 to one."""
        if integration is None:
            self._releases.clear()
        else:
            self._releases.delete_prefix(integration + "\0")

    def clear(self) -> None:
        """Forgets everything cached: credentials and exchanged tokens."""
        self._releases.clear()
        self._exchanges.clear()
        self._agent_tokens.clear()

    def _exchange(self, user_token: str, scopes: list[str], resource: Optional[str], expires_in: Optional[int]) -> tuple[VaultToken, bool]:
        if not isinstance(user_token, str) or not user_token:
            raise TypeError("user_token is required")
        return self._exchanges.get(
            _exchange_key(user_token, scopes, resource, expires_in),
            lambda: self._call_exchange(user_token, scopes, resource, expires_in),
            lambda t: self._good_until(t.expires_at.timestamp()),
        )

    def _call_exchange(self, user_token: str, scopes: list[str], resource: Optional[str], expires_in: Optional[int]) -> VaultToken:
        form = {"grant_type": TOKEN_EXCHANGE_GRANT, "subject_token": user_token, "subject_token_type": ACCESS_TOKEN_TYPE}
        if scopes:
            form["scope"] = " ".join(scopes)
        if resource:
            form["resource"] = resource
        if expires_in is not None:
            form["expires_in"] = str(expires_in)
        return self._token_call(form)

    def _token_call(self, form: dict[str, str], authenticate_client: bool = True) -> VaultToken:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if authenticate_client:
            authenticate(self._credentials, form, headers)
        answer = call_vault("POST", f"{self.url}/oauth2/token", headers, urlencode(form).encode(), self._timeout)
        if answer.status != 200:
            raise exchange_error(answer)
        return self._parse_exchange(answer)

    def _parse_exchange(self, answer: Answer) -> VaultToken:
        b = answer.body if isinstance(answer.body, dict) else {}
        token, lifetime = b.get("access_token"), b.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(lifetime, (int, float)) or lifetime <= 0:
            raise VaultError("invalid_response", status=answer.status, detail="the token endpoint answered without an access_token and expires_in")
        scope = b.get("scope")
        return VaultToken(
            access_token=token,
            expires_at=datetime.fromtimestamp(self._now() + lifetime, timezone.utc),
            scopes=tuple(s for s in scope.split(" ") if s) if isinstance(scope, str) else (),
        )

    def _release_with(self, vault_token: str, principal: str, integration: str, scopes: list[str]) -> Release:
        def load() -> Release:
            return self._call_release(vault_token, integration, scopes)

        # An expired token must reach the vault (and be refused there), not be answered from the cache.
        exp = token_expiry(vault_token)
        if exp is not None and exp <= self._now():
            return load()
        key = "\0".join([integration, principal, " ".join(scopes)])
        return self._releases.get(key, load, self._release_until)[0]

    def _call_release(self, vault_token: str, integration: str, scopes: list[str]) -> Release:
        headers = {"Authorization": f"Bearer {vault_token}"}
        body: Optional[bytes] = None
        if scopes:
            headers["Content-Type"] = "application/json"
            body = json.dumps({"scopes": scopes}).encode()
        url = f"{self.url}/v1/connections/{quote(integration, safe='')}/token"
        answer = call_vault("POST", url, headers, body, self._timeout)
        if answer.status != 200:
            raise release_error(answer, integration)
        release = parse_release(answer.body)
        if release is None:
            raise VaultError("invalid_response", status=answer.status, integration=integration, detail="the vault answered with an unexpected body")
        return release

    def _release_until(self, r: Release) -> float:
        if isinstance(r, ApiKeyRelease):
            return self._now() + self._api_key_ttl if self._api_key_ttl > 0 else 0
        if not r.expires_at:
            return 0  # without a known expiry there is nothing safe to cache against
        try:
            expires_at = datetime.fromisoformat(r.expires_at.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return 0
        return self._good_until(expires_at)

    def _good_until(self, expires_at: float) -> float:
        """Until ``skew`` before ``expires_at``, but never less than half of what is left."""
        left = expires_at - self._now()
        return expires_at - min(self._skew, left / 2)


def _scopes(scopes: Sequence[str], integrations: Sequence[str]) -> list[str]:
    return sorted(set(scopes) | {f"connections:{i}" for i in integrations})


def _exchange_key(user_token: str, scopes: list[str], resource: Optional[str], expires_in: Optional[int]) -> str:
    # The exact user token (hashed) is the key: two tokens naming the same user are not interchangeable until the vault says so.
    return "\0".join([digest(user_token), " ".join(scopes), resource or "", "" if expires_in is None else str(expires_in)])
