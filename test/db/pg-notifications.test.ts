import { ConsoleLogger, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { DataSource } from 'typeorm';
import { createDataSource, NotificationSubscriber, PgNotifications } from '../../libs/db';
import { createTestDatabase, TestDatabase } from '../support/database';
import { LogCapture } from '../support/log-capture';
import { TcpProxy } from '../support/tcp-proxy';

/**
 * PgNotifications: the process's one LISTEN connection, shared by channels, on real Postgres.
 * Each test opens its own DataSource (its own application_name) through a real TCP proxy, so
 * its connections can be counted, killed and hung.
 */
const APP = 'pg-notifications-test';

/** A subscriber that records what it was told. */
function recorder() {
  const heard: string[] = [];
  const events: string[] = [];
  const sub: NotificationSubscriber = {
    onNotification: (p) => heard.push(p),
    onReconnected: () => events.push('reconnected'),
    onLost: () => events.push('lost'),
  };
  return { heard, events, sub };
}

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

describe('PgNotifications', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let ds: DataSource;
  let n: PgNotifications;
  const logs = new LogCapture();

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
    Logger.overrideLogger(logs);
  });
  afterAll(async () => {
    Logger.overrideLogger(new ConsoleLogger());
    await db?.drop();
  });
  beforeEach(async () => {
    logs.lines.length = 0;
    proxy = await TcpProxy.start(db.url);
    ds = createDataSource({ url: proxy.rewrite(db.url), schema: 'public', poolSize: 4, applicationName: APP });
    await ds.initialize();
    n = new PgNotifications(ds);
  });
  afterEach(async () => {
    proxy.resume();
    await n.close();
    // The pool's end() waits for every client it handed out: a kept LISTEN client would hang here.
    if (ds.isInitialized) await ds.destroy();
    await proxy.close();
  });

  /** This test's connections that LISTEN (only a connection's last statement shows in pg_stat_activity). */
  const listening = async () =>
    (
      await db.ds.query(
        `SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND query LIKE 'LISTEN %'`,
        [APP],
      )
    ).map((r: { pid: number; query: string }) => r);
  const notify = (channel: string, payload: string) => db.ds.query(`SELECT pg_notify($1, $2)`, [channel, payload]);

  it('delivers NOTIFYs on two channels over one connection; a channel subscribed later joins it', async () => {
    const a = recorder();
    const b = recorder();
    n.subscribe('test_chan_a', a.sub);
    expect(await n.ready('test_chan_a')).toBe(true);
    expect(a.events).toEqual(['reconnected']);
    expect(n.live('test_chan_b')).toBe(false);
    n.subscribe('test_chan_b', b.sub);
    expect(await n.ready('test_chan_b')).toBe(true);
    expect(b.events).toEqual(['reconnected']);
    expect(a.events).toEqual(['reconnected']);

    await notify('test_chan_a', 'one');
    await notify('test_chan_b', 'two');
    await notify('test_chan_a', '');
    await until(() => a.heard.length === 2 && b.heard.length === 1, 'both channels heard');
    expect(a.heard).toEqual(['one', '']);
    expect(b.heard).toEqual(['two']);
    const conns = await listening();
    expect(conns).toHaveLength(1);
    expect(conns[0].query).toBe('LISTEN test_chan_b');
  });

  it('a second subscriber of a channel hears it too; one that unsubscribed does not', async () => {
    const a = recorder();
    const b = recorder();
    n.subscribe('test_chan_a', a.sub);
    const leave = n.subscribe('test_chan_a', b.sub);
    expect(await n.ready('test_chan_a')).toBe(true);
    await notify('test_chan_a', 'x');
    await until(() => a.heard.length === 1 && b.heard.length === 1, 'both subscribers heard');
    leave();
    await notify('test_chan_a', 'y');
    await until(() => a.heard.length === 2, 'the remaining subscriber heard');
    expect(b.heard).toEqual(['x']);
  });

  it('connection killed (pg_terminate_backend): onLost, reconnect, onReconnected on every channel, delivery again; one warning', async () => {
    const a = recorder();
    const b = recorder();
    n.subscribe('test_chan_a', a.sub);
    n.subscribe('test_chan_b', b.sub);
    await until(() => n.live('test_chan_a') && n.live('test_chan_b'), 'both channels live');
    const [before] = await listening();
    await db.ds.query(`SELECT pg_terminate_backend($1)`, [before.pid]);
    await until(() => a.events.includes('lost') && b.events.includes('lost'), 'onLost');
    await until(() => n.live('test_chan_a') && n.live('test_chan_b'), 'reconnected');
    expect(a.events).toEqual(['reconnected', 'lost', 'reconnected']);
    expect(b.events).toEqual(['reconnected', 'lost', 'reconnected']);
    const after = await listening();
    expect(after).toHaveLength(1);
    expect(after[0].pid).not.toBe(before.pid);
    // One LISTEN of both channels on the new connection.
    expect(after[0].query).toBe('LISTEN test_chan_a; LISTEN test_chan_b');
    await notify('test_chan_a', 'after');
    await notify('test_chan_b', 'after');
    await until(() => a.heard.includes('after') && b.heard.includes('after'), 'delivery after the reconnect');
    expect(logs.lines.filter((l) => l.includes('notification connection lost'))).toHaveLength(1);
  });

  it('a database refusing connections: retried (bounded), one warning for the outage, back when it accepts; no secret logged', async () => {
    const a = recorder();
    n.subscribe('test_chan_a', a.sub);
    expect(await n.ready('test_chan_a')).toBe(true);
    proxy.refuseNew(true);
    proxy.resetAll();
    await until(() => proxy.counters().refused >= 3, 'three refused reconnects', 10_000);
    expect(n.live('test_chan_a')).toBe(false);
    expect(a.events).toEqual(['reconnected', 'lost']);
    proxy.refuseNew(false);
    await until(() => n.live('test_chan_a'), 'back after the outage', 10_000);
    expect(a.events).toEqual(['reconnected', 'lost', 'reconnected']);
    const warnings = logs.lines.filter((l) => l.startsWith('nest.warn') && l.includes('PgNotifications'));
    expect(warnings).toHaveLength(1);
    const url = new URL(proxy.rewrite(db.url));
    for (const secret of [url.toString(), url.password].filter((s) => s.length > 0))
      expect(logs.lines.filter((l) => l.includes(secret))).toEqual([]);
  });

  it.each([
    ['a new connection', true],
    ['the LISTEN on a pooled connection', false],
  ])(
    'shutdown with a connect in flight (%s, on a hung database): close completes after it, and no connection is kept',
    async (_, fresh) => {
      const a = recorder();
      if (fresh) {
        // No idle pooled connection left: the pool must open one, and that connect hangs.
        proxy.resetAll();
        await until(() => proxy.counters().live === 0, 'the pooled connections reset');
      }
      const accepted = proxy.counters().accepted;
      proxy.pause();
      n.subscribe('test_chan_a', a.sub);
      await sleep(500);
      expect(proxy.counters().accepted > accepted).toBe(fresh);
      expect(n.live('test_chan_a')).toBe(false);
      let closed = false;
      const closing = n.close().then(() => (closed = true));
      await sleep(300);
      expect(closed).toBe(false); // it waits for the connect in flight rather than leaving it behind
      proxy.resume(); // the connect now succeeds, after shutdown began
      const outcome = await Promise.race([closing.then(() => 'closed'), sleep(10_000).then(() => 'still closing')]);
      expect(outcome).toBe('closed');
      expect(n.live('test_chan_a')).toBe(false);
      expect(a.events).toEqual([]);
      const destroyed = await Promise.race([ds.destroy().then(() => 'ended'), sleep(10_000).then(() => 'pool end waiting')]);
      expect(destroyed).toBe('ended');
      // The server sees the disconnect a moment later.
      await until(async () => (await listening()).length === 0, 'no LISTEN connection left on the server');
      // Closed for good: a later subscribe opens nothing.
      n.subscribe('test_chan_b', recorder().sub);
      expect(await n.ready('test_chan_b')).toBe(false);
    },
  );
});
