"""One HTTP call to the vault with the standard library, a deadline, and no redirects."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from typing import Any, Mapping, Optional

from ._errors_from import Answer
from .errors import VaultUnavailable

SDK_VERSION = "0.1.0"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A token must never follow a redirect to another host: a 3xx comes back as the answer.
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def call_vault(method: str, url: str, headers: Mapping[str, str], body: Optional[bytes], timeout: float) -> Answer:
    """Any answer, good or bad, is returned read; a network failure or timeout is ``VaultUnavailable`` (nothing was released)."""
    request = urllib.request.Request(
        url,
        data=body,
        method=method,
        headers={
            "User-Agent": f"credential-vault-sdk-python/{SDK_VERSION}",
            "Accept": "application/json, application/problem+json",
            **headers,
        },
    )
    try:
        try:
            response = _opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as refused:  # 3xx/4xx/5xx: an answer all the same
            response = refused
        with response:
            status = response.status if response.status is not None else response.getcode()
            answer_headers = {k.lower(): v for k, v in response.headers.items()}
            text = response.read()
    except (urllib.error.URLError, OSError) as err:
        # A timeout while connecting arrives wrapped in URLError; one while reading, bare.
        if isinstance(err, (socket.timeout, TimeoutError)) or isinstance(getattr(err, "reason", None), (socket.timeout, TimeoutError)):
            raise VaultUnavailable(detail=f"the vault did not answer within {timeout:g} s") from None
        raise VaultUnavailable(detail="the vault could not be reached") from err
    return Answer(status=int(status), headers=answer_headers, body=_json(text))


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
