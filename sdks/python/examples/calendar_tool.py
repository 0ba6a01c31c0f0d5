"""An agent tool in the shape of the reference article's ``get_calendar_information``, on Credential Vault.

The agent holds the signed-in user's token (from the app's identity provider). The vault checks the
token and policy, and hands over the user's calendar access token; the tool calls the calendar API.
When the user has not connected (or must reconnect), the tool returns the link to give them.

Environment: ``VAULT_URL``, ``VAULT_CLIENT_ID``, ``VAULT_CLIENT_SECRET``, ``CALENDAR_EVENTS_URL``.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from typing import Any, Optional

from credential_vault import ConnectionNotFound, NeedsReauth, VaultClient

_vault: Optional[VaultClient] = None


def vault() -> VaultClient:
    """One client per process: it caches exchanged tokens and released credentials."""
    global _vault
    if _vault is None:
        _vault = VaultClient(os.environ["VAULT_URL"], os.environ["VAULT_CLIENT_ID"], client_secret=os.environ["VAULT_CLIENT_SECRET"])
    return _vault


def get_calendar_information(user_access_token: str, integration: str = "calendar") -> dict[str, Any]:
    """Third-party OAuth: the user's upcoming events, with the calendar token the vault keeps for them."""
    try:
        token = vault().access_token(integration, user_token=user_access_token)
    except (ConnectionNotFound, NeedsReauth) as missing:
        # Nothing to call the calendar with: the user connects (again) at this link, then asks again.
        return {"error": missing.code, "connect_url": missing.connect_url}
    events_url = os.getenv("CALENDAR_EVENTS_URL", "https://www.googleapis.com/calendar/v3/calendars/primary/events")
    query = urllib.parse.urlencode({"maxResults": 10, "orderBy": "startTime", "singleEvents": "true"})
    request = urllib.request.Request(f"{events_url}?{query}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, Any] = json.load(response)
        return result
