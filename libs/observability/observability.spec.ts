import { Writable } from 'node:stream';
import { Counter, Histogram, Registry } from 'prom-client';
import { createVaultLogger, errorSummary, isSecretKey, scrubSecrets, VaultMetrics } from './index';

describe('log redaction', () => {
  it('knows secret-bearing field and header names, whatever their case or separators', () => {
    for (const k of [
      'authorization',
      'Authorization',
      'cookie',
      'Set-Cookie',
      'x-api-key',
      'client_secret',
      'clientSecret',
      'api_key',
      'access_token',
      'refresh_token',
      'subject_token',
      'client_assertion',
      'code',
      'code_verifier',
      'password',
      'db_password',
      'session_secret',
      'bearer_token',
    ]) {
      expect([k, isSecretKey(k)]).toEqual([k, true]);
    }
    for (const k of ['integration', 'status', 'token_type', 'expires_at', 'reqId', 'route', 'context', 'scopes'])
      expect([k, isSecretKey(k)]).toEqual([k, false]);
  });

  it('scrubs at any depth, in arrays, and reduces errors to class and code', () => {
    const err = Object.assign(new TypeError('has secret s3'), { code: 'E_X', parameters: ['s3'] });
    expect(scrubSecrets({ a: 1, nested: [{ password: 's3', ok: 'yes', deeper: { token: 's3' } }], err })).toEqual({
      a: 1,
      nested: [{ password: '[REDACTED]', ok: 'yes', deeper: { token: '[REDACTED]' } }],
      err: { type: 'TypeError', code: 'E_X' },
    });
    expect(errorSummary({ name: 'bad name with spaces', code: 'not a code!' })).toEqual({ type: 'Error' });
  });

  it('the logger writes JSON without secrets or error messages', () => {
    const lines: string[] = [];
    const stream = new Writable({ write: (c, _e, done) => (lines.push(String(c)), done()) });
    const log = createVaultLogger({ level: 'info', stream });
    log.info({ headers: { authorization: 'Bearer s3', cookie: 's3' }, client_secret: 's3' }, 'hello');
    log.error(new Error('message with s3'));
    log.error({ err: new Error('message with s3') });
    log.debug('below the level');
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).not.toContain('s3');
    expect(JSON.parse(lines[1])).toMatchObject({ level: 'error', msg: 'Error', err: { type: 'Error' } });
  });
});

describe('VaultMetrics', () => {
  it('keeps label values to identifiers, and their number bounded', async () => {
    const m = new VaultMetrics({}, { processMetrics: false });
    m.recordRelease({ outcome: 'denied', integration: 'has space', reason: 'policy_denied', seconds: 0.01 });
    for (let i = 0; i < 600; i++) m.recordRelease({ outcome: 'released', integration: `i${i}`, seconds: 0.001 });
    const text = await m.text();
    expect(text).toContain('vault_releases_total{outcome="denied",integration="other"} 1');
    expect(text).toContain('vault_releases_total{outcome="released",integration="other"} 100');
    expect(text).toContain('vault_releases_total{outcome="released",integration="i499"} 1');
    expect(text).not.toContain('integration="i500"');
  });
});

describe('VaultMetrics webhooks', () => {
  it('counts deliveries by event type and outcome, and reads the outbox lag from its latest source', async () => {
    const m = new VaultMetrics({}, { processMetrics: false });
    expect(await m.text()).not.toContain('vault_webhook_outbox_lag_seconds');
    m.recordWebhookDelivery({ source: m, eventType: 'connection.created', outcome: 'delivered' });
    m.recordWebhookDelivery({ source: m, eventType: 'https://evil.example/?t=1', outcome: 'retry' });
    m.watchWebhookOutboxLag(async () => 7);
    m.watchWebhookOutboxLag(async () => 3); // replaces the source; no second gauge
    const text = await m.text();
    expect(text).toContain('vault_webhook_deliveries_total{event_type="connection.created",outcome="delivered"} 1');
    expect(text).toContain('vault_webhook_deliveries_total{event_type="other",outcome="retry"} 1');
    expect(text).toContain('vault_webhook_outbox_lag_seconds 3');
    m.watchWebhookOutboxLag(() => Promise.reject(new Error('database down')));
    expect(await m.text()).toContain('vault_webhook_outbox_lag_seconds 3'); // the last reading, not a failed scrape
  });
});

describe('VaultMetrics releases', () => {
  it('exposes what prom-client gives for one inc/observe per release (names, labels, values, order), scrape after scrape', async () => {
    const m = new VaultMetrics({}, { processMetrics: false });
    const reference = new Registry();
    const releases = new Counter({
      name: 'vault_releases_total',
      help: 'x',
      labelNames: ['outcome', 'integration'],
      registers: [reference],
    });
    const denials = new Counter({ name: 'vault_release_denials_total', help: 'x', labelNames: ['reason'], registers: [reference] });
    const seconds = new Histogram({
      name: 'vault_release_duration_seconds',
      help: 'x',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [reference],
    });
    const families = async (text: string) =>
      text
        .split('\n')
        .filter((l) => /^vault_release(s_total|_denials_total|_duration_seconds)/.test(l))
        .join('\n');
    const outcomes = ['released', 'denied', 'error'] as const;
    const integrations = ['openai', undefined, 'anthropic', 'bad name'];
    const reasons = ['policy_denied', undefined, 'scope_missing'];
    for (let scrape = 0; scrape < 3; scrape++) {
      for (let i = 0; i < 50 + scrape * 7; i++) {
        const outcome = outcomes[(i * 7 + scrape) % 3];
        const integration = integrations[(i + scrape) % integrations.length];
        const reason = outcome === 'denied' ? reasons[i % reasons.length] : undefined;
        const s = ((i * 37) % 1200) / 100;
        m.recordRelease({ outcome, integration, reason, seconds: s });
        const label = integration === undefined ? 'none' : integration === 'bad name' ? 'other' : integration;
        releases.inc({ outcome, integration: label });
        if (outcome === 'denied') denials.inc({ reason: reason ?? 'none' });
        seconds.observe({ outcome }, s);
      }
      const ours = await families(await m.text());
      if (scrape === 0) expect(ours).toContain('vault_release_denials_total{reason="none"}');
      expect(ours).toBe(await families(await reference.metrics()));
      // A reset (prom-client's series replaced) is followed too.
      if (scrape === 1) {
        m.registry.resetMetrics();
        reference.resetMetrics();
      }
    }
  });
});
