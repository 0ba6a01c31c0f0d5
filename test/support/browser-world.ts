import { existsSync } from 'node:fs';
import { Browser, BrowserContext, chromium, Page, Route } from 'playwright-core';
import { TestProvider } from './oidc-provider';
import { ProviderWorld, ProviderWorldOptions, startProviderWorld } from './provider-world';

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

export interface BrowserWorld extends ProviderWorld {
  browser: Browser;
  context: BrowserContext;
  page: Page;
}

export interface WorldOptions extends ProviderWorldOptions {
  offHost?: (route: Route) => Promise<void>;
}

/** The vault on a known port, a real OpenID provider for it, and chromium with one local page. */
export async function startBrowserWorld(o: WorldOptions): Promise<BrowserWorld> {
  const world = await startProviderWorld(o);
  let browser: Browser | undefined;
  // Closed newest first, also when the browser fails to start, so nothing is left running.
  const close = async () => {
    await browser?.close();
    await world.close();
  };
  try {
    browser = await launchChromium();
    const context = await localContext(browser, o.offHost);
    const page = await context.newPage();
    return { ...world, browser, context, page, close };
  } catch (e) {
    await close();
    throw e;
  }
}
