"""Credential Vault SDK for Python agents (standard library only)."""

from ._http import SDK_VERSION
from .aio import AsyncVaultClient
from .client import VaultClient
from .client_auth import AssertionAlgorithm, AssertionSource, ClientAuthMethod, Signer
from .errors import (
    ApprovalDenied,
    ApprovalExpired,
    ApprovalRequired,
    ConnectionNotFound,
    InvalidToken,
    NeedsReauth,
    PolicyDenied,
    RateLimited,
    ScopeExceedsPolicy,
    VaultError,
    VaultUnavailable,
)
from .types import ApiKeyRelease, ApprovedToken, OAuthRelease, Release, VaultToken

__version__ = SDK_VERSION
__all__ = [
    "ApiKeyRelease",
    "ApprovalDenied",
    "ApprovalExpired",
    "ApprovalRequired",
    "ApprovedToken",
    "AssertionAlgorithm",
    "AssertionSource",
    "AsyncVaultClient",
    "ClientAuthMethod",
    "ConnectionNotFound",
    "InvalidToken",
    "NeedsReauth",
    "OAuthRelease",
    "PolicyDenied",
    "RateLimited",
    "Release",
    "ScopeExceedsPolicy",
    "Signer",
    "VaultClient",
    "VaultError",
    "VaultToken",
    "VaultUnavailable",
]
