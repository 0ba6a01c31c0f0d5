"""Client authentication at the vault's token endpoint (RFC 6749 §2.3.1, RFC 7523 §2.2)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Literal, MutableMapping, Optional
from urllib.parse import quote

#: ``federated``: the agent's own token from a trusted issuer (a workload identity, an Entra agent token) is its
#: client assertion; no secret is held (docs/agents.md, federated identity credentials).
ClientAuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt", "federated"]
#: Algorithms the vault accepts for client assertions (asymmetric only).
AssertionAlgorithm = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"]
#: Signs the JWS signing input (``header.payload`` as ASCII bytes) with the agent's private key and
#: returns the raw signature: PKCS#1 v1.5 for RS*, PSS for PS*, and r||s (not DER) for ES*.
#: The standard library has no RSA or ECDSA, so the caller brings the key (a KMS, an HSM, a crypto library).
Signer = Callable[[bytes], bytes]
#: Returns a complete client assertion per call, made elsewhere (a workload identity, a federated token).
AssertionSource = Callable[[], str]

JWT_BEARER_ASSERTION = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class ClientCredentials:
    client_id: str
    method: ClientAuthMethod
    #: ``aud`` of the assertions signed here: the token endpoint under the vault's public URL.
    audience: str
    secret: Optional[str] = None
    signer: Optional[Signer] = None
    algorithm: AssertionAlgorithm = "RS256"
    key_id: Optional[str] = None
    assertion: Optional[AssertionSource] = None

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"ClientCredentials(client_id={self.client_id!r}, method={self.method!r})"


def authenticate(c: ClientCredentials, form: MutableMapping[str, str], headers: MutableMapping[str, str]) -> None:
    """Adds the client's authentication to a token request: a header (basic) or form parameters."""
    if c.method == "client_secret_basic":
        # RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
        pair = f"{_form_encode(c.client_id)}:{_form_encode(c.secret or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    elif c.method == "client_secret_post":
        form["client_id"] = c.client_id
        form["client_secret"] = c.secret or ""
    else:
        form["client_id"] = c.client_id
        form["client_assertion_type"] = JWT_BEARER_ASSERTION
        form["client_assertion"] = c.assertion() if c.assertion else sign_assertion(c)


def sign_assertion(c: ClientCredentials, now: Optional[float] = None) -> str:
    """A one-minute client assertion with a fresh ``jti`` (the vault accepts each ``jti`` once)."""
    if c.signer is None:
        raise TypeError("private_key_jwt needs a signer or a client_assertion callable")
    iat = int(time.time() if now is None else now)
    header = {"alg": c.algorithm, "typ": "JWT", **({"kid": c.key_id} if c.key_id else {})}
    payload = {"iss": c.client_id, "sub": c.client_id, "aud": c.audience, "jti": str(uuid.uuid4()), "iat": iat, "exp": iat + 60}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{_b64(c.signer(signing_input.encode('ascii')))}"


def _form_encode(value: str) -> str:
    return quote(value, safe="-_.!~*'()")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
