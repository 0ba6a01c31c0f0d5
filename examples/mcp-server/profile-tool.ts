import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ConnectionNotFoundError, NeedsReauthError, PolicyDeniedError, VaultClient, VaultError } from '../../libs/sdk/index';

export interface ProfileToolDeps {
  vault: VaultClient;
  userToken: string;
  integration: string;
  profileUrl: string;
}

/**
 * The `get_profile` tool: the user's access token for the integration from the vault, then the
 * provider's profile (OIDC userinfo) fetched with it. What the user must do about a refusal
 * (reconnect, ask an admin) comes back as a tool error the model can relay, with the connect URL.
 */
export async function getProfile(d: ProfileToolDeps): Promise<CallToolResult> {
  try {
    let response = await callProvider(d);
    if (response.status === 401) {
      // The provider no longer takes the cached token (revoked early): ask the vault once more.
      d.vault.forget(d.integration);
      response = await callProvider(d);
    }
    if (!response.ok) return failure(`The ${d.integration} API answered ${response.status}.`);
    const profile = (await response.json()) as Record<string, unknown>;
    return { content: [{ type: 'text', text: JSON.stringify(profile) }], structuredContent: profile };
  } catch (err) {
    return refusal(err, d.integration);
  }
}

async function callProvider(d: ProfileToolDeps): Promise<Response> {
  const token = await d.vault.accessToken(d.integration, { userToken: d.userToken });
  return fetch(d.profileUrl, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    signal: AbortSignal.timeout(10_000),
  });
}

function refusal(err: unknown, integration: string): CallToolResult {
  if (err instanceof NeedsReauthError) {
    return failure(
      `Your ${integration} connection has expired. Open ${err.connectUrl ?? 'your connections page'} to reconnect, then try again.`,
      { code: err.code, connect_url: err.connectUrl },
    );
  }
  if (err instanceof ConnectionNotFoundError) {
    const how = err.connectUrl ? `Open ${err.connectUrl} to connect it` : 'Ask your administrator to connect it';
    return failure(`No ${integration} account is connected. ${how}, then try again.`, { code: err.code, connect_url: err.connectUrl });
  }
  if (err instanceof PolicyDeniedError) return failure(`This assistant is not allowed to use ${integration} for you.`, { code: err.code });
  if (err instanceof VaultError) return failure(`The credential vault refused: ${err.code}.`, { code: err.code });
  // Anything else (the provider unreachable, say): its class only, never its message.
  return failure(`The ${integration} API could not be reached (${(err as Error)?.name ?? 'error'}).`);
}

function failure(text: string, details?: Record<string, unknown>): CallToolResult {
  return { isError: true, content: [{ type: 'text', text }], ...(details ? { _meta: { vault: details } } : {}) };
}
