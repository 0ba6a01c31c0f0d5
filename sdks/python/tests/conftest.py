"""Starts the REAL vault for the tests: Postgres, the Nest app, oidc-provider as the calendar's
authorization server (test/sdk/python-world.ts, the same world as test/sdk/sdk.test.ts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "sdks" / "python"))


@dataclass
class World:
    url: str
    public_url: str
    client_id: str
    client_secret: str
    provider_url: str
    control: str

    def _control(self, path: str, **query: Any) -> Any:
        with urllib.request.urlopen(f"{self.control}{path}?{urllib.parse.urlencode(query)}", timeout=60) as r:
            return json.load(r)

    def user_token(self, sub: str, ttl: int = 300) -> str:
        """The user's own token from the issuer the vault trusts (what an app hands its agent)."""
        return str(self._control("/user-token", sub=sub, ttl=ttl)["token"])

    def federated_token(self, sub: str, aud: str = "", ttl: int = 300) -> dict[str, str]:
        """An agent's own token from the trusted test issuer (``token``) and that issuer (``issuer``): a workload identity."""
        return dict(self._control("/federated-token", sub=sub, aud=aud, ttl=ttl))

    def connect(self, sub: str) -> None:
        self._control("/connect", sub=sub)

    def break_grant(self, sub: str) -> None:
        self._control("/break-grant", sub=sub)

    def releases(self, sub: str, integration: str) -> int:
        return int(self._control("/releases", sub=sub, integration=integration)["count"])

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        token = self._control("/admin-token")["token"]
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {token}", **({"Content-Type": "application/json"} if data is not None else {})}
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                raw = r.read()
        except urllib.error.HTTPError as refused:
            raise AssertionError(f"{method} {path}: {refused.code} {refused.read().decode()}") from None
        return json.loads(raw) if raw else None


@pytest.fixture(scope="session")
def world() -> Iterator[World]:
    proc = subprocess.Popen(
        ["node", "-r", "./test/support/register-ts.js", "test/sdk/python-world.ts"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=30)
        raise RuntimeError(f"the vault did not start (exit {proc.returncode}; its stderr is above)")
    try:
        yield World(**json.loads(line))
    finally:
        proc.stdin.close()  # the world closes the vault and drops its database when stdin closes
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
