import { DpopProofVerifier } from '../auth';
import { DomainError } from '../kernel';
import { TOKEN_ENDPOINT_PATH } from './metadata';
import { OAuthError } from './oauth-error';

/**
 * RFC 9449 §5 at the token endpoint, for every grant: a `DPoP` proof for this endpoint binds the
 * issued token to its key (whatever the agent's registration); an agent registered `dpop_bound`
 * must send one. Resolves to the key's thumbprint (`cnf.jkt`), or undefined for a Bearer token.
 */
export async function dpopBinding(
  dpop: DpopProofVerifier,
  proof: string | string[] | undefined,
  required: boolean,
): Promise<string | undefined> {
  if (proof === undefined && !required) return undefined;
  try {
    return await dpop.verify(proof, { method: 'POST', url: dpop.urlOf(TOKEN_ENDPOINT_PATH) });
  } catch (err) {
    if (err instanceof DomainError && err.code === 'invalid_dpop_proof') {
      throw new OAuthError(
        'invalid_dpop_proof',
        proof === undefined ? 'this client is registered dpop_bound: send a DPoP proof' : err.detail,
      );
    }
    throw err;
  }
}
