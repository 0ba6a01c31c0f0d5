/** A JWKS document as fetched; jwks-rsa parses and selects the keys. */
export interface JwksDocument {
  keys: unknown[];
}

export interface JwksFetcherOptions {
  requestsPerMinute: number;
  timeoutMs: number;
  maxBytes?: number;
  /** Called once per failed fetch (so at most `requestsPerMinute` times a minute). */
  onFetchError?: (err: Error) => void;
}

/**
 * The network side of a jwks_uri issuer, given to jwks-rsa as its `fetcher`.
 *
 * jwks-rsa's own `rateLimit` queues callers when its bucket is empty under concurrency
 * (limiter@1 `comeBackLater`), so a flood of unknown `kid`s makes requests hang for
 * minutes and then fetch anyway. This fetcher never waits:
 * - at most `requestsPerMinute` fetches in any 60 s window (sliding log);
 * - concurrent callers share one in-flight fetch;
 * - over the budget it answers from the last fetched document (unknown kids then simply
 *   are not found), or rejects if there is none yet;
 * - no redirects, a timeout, and a size cap on the response.
 */
export function rateLimitedJwksFetcher(options: JwksFetcherOptions): (uri: string) => Promise<JwksDocument> {
  const maxBytes = options.maxBytes ?? 256 * 1024;
  const recent: number[] = [];
  let inFlight: Promise<JwksDocument> | undefined;
  let lastGood: JwksDocument | undefined;

  return (uri) => {
    if (inFlight) return inFlight;
    const now = Date.now();
    while (recent.length && now - recent[0] >= 60_000) recent.shift();
    if (recent.length >= options.requestsPerMinute) {
      return lastGood ? Promise.resolve(lastGood) : Promise.reject(new Error('JWKS refetch rate limit reached'));
    }
    recent.push(now);
    inFlight = fetchJwks(uri, options.timeoutMs, maxBytes)
      .then(
        (doc) => (lastGood = doc),
        (err: Error) => {
          options.onFetchError?.(err);
          throw err;
        },
      )
      .finally(() => (inFlight = undefined));
    return inFlight;
  };
}

async function fetchJwks(uri: string, timeoutMs: number, maxBytes: number): Promise<JwksDocument> {
  const res = await fetch(uri, { redirect: 'error', signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`JWKS endpoint answered ${res.status}`);
  const body = await res.arrayBuffer();
  if (body.byteLength > maxBytes) throw new Error('JWKS document too large');
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    throw new Error('JWKS response is not JSON');
  }
  if (doc === null || typeof doc !== 'object' || !Array.isArray((doc as JwksDocument).keys)) throw new Error('not a JWKS document');
  return doc as JwksDocument;
}
