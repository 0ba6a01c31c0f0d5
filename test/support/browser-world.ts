import { existsSync } from 'node:fs';
import { AddressInfo, createServer } from 'node:net';
import { Browser, BrowserContext, chromium, Page, Route } from 'playwright-core';
import { ProviderOptions, startTestProvider, TestProvider } from './oidc-provider';
import { startTestVault, TestVault } from './vault';

/** Debian's chromium: .ci/run installs it with apt; playwright-core brings no browser of its own. */
export const CHROMIUM = '/usr/bin/chromium';
export const browserAvailable = existsSync(CHROMIUM);

/**
 * `it` when the browser is there, `it.skip` (with a warning) when it is not. In CI the browser parts
 * must run: a missing browser fails the suite there instead of skipping it.
 */
export function itInBrowserFor(file: string): jest.It {
  if (!browserAvailable && process.env.CI) throw new Error(`no browser at ${CHROMIUM}: .ci/run installs Debian's chromium with apt`);
  if (!browserAvailable) {
    // eslint-disable-next-line no-console
    console.warn(`SKIPPED ${file}: no browser at ${CHROMIUM} (.ci/run installs Debian's chromium with apt)`);
  }
  return browserAvailable ? it : it.skip;
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/**
 * A context with JavaScript off (the vault's pages work without it) that reaches nothing but this
 * machine (the provider's dev pages import a web font); `offHost` may answer other hosts instead.
 */
export async function localContext(browser: Browser, offHost: (route: Route) => Promise<void> = (route) => route.abort()) {
  const context = await browser.newContext({ javaScriptEnabled: false });
  await context.route((url) => url.hostname !== '127.0.0.1', offHost);
  return context;
}

/** On the provider's login page: sign in as `user`, continue, and wait to be back at `back`. */
export async function providerLogin(page: Page, user: string, back: string | RegExp, password = 'any password'): Promise<void> {
  await page.fill('input[name=login]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL(/\/interaction\//), page.click('button[type=submit]')]);
  await Promise.all([page.waitForURL(back), page.click('button:has-text("Continue")')]);
}

/** Open `url`, which sends a signed-out person to the provider, and come back to it signed in. */
export async function signIn(page: Page, provider: TestProvider, user: string, url: string, password?: string): Promise<void> {
  await Promise.all([page.waitForURL(`${provider.url}/**`), page.goto(url)]);
  await providerLogin(page, user, url, password);
}

export interface BrowserWorld {
  base: string;
  v: TestVault;
  provider: TestProvider;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** PUT as the tenant's admin, asserting it succeeded; answers the body. */
  put(path: string, body: unknown): Promise<any>;
  close(): Promise<void>;
}

export interface WorldOptions {
  tenant: string;
  /** The provider's mode and roles; its redirect URI is the vault's `callback` path. */
  provider: Omit<ProviderOptions, 'redirectUris'>;
  callback: '/auth/callback' | '/oauth/callback';
  /** Vault configuration beyond the port, public URL, audience and outbound allow list. */
  env?: Record<string, string>;
  offHost?: (route: Route) => Promise<void>;
}

/** The vault on a known port, a real OpenID provider for it, and chromium with one local page. */
export async function startBrowserWorld(o: WorldOptions): Promise<BrowserWorld> {
  // What has started, closed newest first (also when a later part fails to start, so nothing is left running).
  const started: Array<() => Promise<unknown>> = [];
  const close = async () => {
    for (const stop of started.splice(0).reverse()) await stop();
  };
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const provider = await startTestProvider({ ...o.provider, redirectUris: [`${base}${o.callback}`] });
    started.push(() => provider.close());
    const v = await startTestVault({
      PORT: String(port),
      VAULT_PUBLIC_URL: base,
      VAULT_AUDIENCE: 'https://vault.test.example',
      OUTBOUND_ALLOW_HOSTS: '127.0.0.1',
      ...o.env,
    });
    started.push(() => v.close());
    const browser = await launchChromium();
    started.push(() => browser.close());
    const context = await localContext(browser, o.offHost);
    const page = await context.newPage();
    const put = async (path: string, body: unknown) => {
      const r = await v.call('PUT', path, { token: v.issuer.adminToken(o.tenant), body });
      // The tests' set-up assertion (status below 300), whose failure names the call and the problem body.
      expect(`PUT ${path}: ${r.status} ${r.status < 300 ? '' : r.text}`).toMatch(/^PUT \S+: [12]\d\d /);
      return r.body;
    };
    return { base, v, provider, browser, context, page, put, close };
  } catch (e) {
    await close();
    throw e;
  }
}
