"""examples/calendar_tool.py: the reference article's get_calendar_information, on the real vault.
The "calendar API" is the authorization server's userinfo endpoint, which takes the released token."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from conftest import World

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "calendar_tool.py"


@pytest.fixture()
def tool(world: World, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.setenv("VAULT_URL", world.url)
    monkeypatch.setenv("VAULT_CLIENT_ID", world.client_id)
    monkeypatch.setenv("VAULT_CLIENT_SECRET", world.client_secret)
    monkeypatch.setenv("CALENDAR_EVENTS_URL", f"{world.provider_url}/me")
    spec = importlib.util.spec_from_file_location("calendar_tool", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["calendar_tool"] = module
    spec.loader.exec_module(module)
    return module


def test_the_tool_calls_the_api_with_the_users_released_token(world: World, tool: ModuleType) -> None:
    answer = tool.get_calendar_information(world.user_token("alice"))
    assert answer["sub"] == "alice"


def test_the_tool_hands_back_the_connect_url_when_the_user_has_not_connected(world: World, tool: ModuleType) -> None:
    answer = tool.get_calendar_information(world.user_token("zoe"))
    assert answer["error"] == "connection_not_found"
    assert answer["connect_url"].startswith("https://vault.test.example/connect/")
