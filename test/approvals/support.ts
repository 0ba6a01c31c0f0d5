import { AddressInfo, createServer } from 'node:net';
import { SMTPServer } from 'smtp-server';

/** One mail the test SMTP server took: envelope recipients and the message as sent (headers and body). */
export interface ReceivedMail {
  to: string[];
  raw: string;
  /** The raw message with quoted-printable soft breaks and escapes undone (enough to read a link). */
  text: string;
}

/**
 * A real SMTP server in-process (`smtp-server`, an edge we do not own): no TLS, no authentication,
 * every message kept. The vault sends through it with nodemailer as it would to any relay.
 */
export class TestSmtp {
  readonly mails: ReceivedMail[] = [];
  /** Messages received whose final answer is being held (`hold()`): the sender is still waiting. */
  held = 0;
  private gate?: Promise<void>;
  private server!: SMTPServer;
  port = 0;

  /** Holds the answer to every message received from now on (the sender waits) until the returned function is called. */
  hold(): () => void {
    let open!: () => void;
    this.gate = new Promise<void>((r) => (open = r));
    return () => {
      this.gate = undefined;
      open();
    };
  }

  async start(): Promise<this> {
    this.server = new SMTPServer({
      disabledCommands: ['STARTTLS', 'AUTH'],
      authOptional: true,
      logger: false,
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', async () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          if (this.gate) {
            this.held += 1;
            await this.gate;
            this.held -= 1;
          }
          this.mails.push({ to: session.envelope.rcptTo.map((r) => r.address), raw, text: unQuotedPrintable(raw) });
          callback();
        });
      },
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** The first mail (after `skip`) to `to`, waiting for it. */
  async next(to: string, skip = 0, timeoutMs = 15_000): Promise<ReceivedMail> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.mails.filter((m) => m.to.includes(to))[skip];
      if (found) return found;
      if (Date.now() > until) throw new Error(`no mail to ${to} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

function unQuotedPrintable(s: string): string {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

/** A form POST to the vault's OAuth endpoints, as an agent sends it. */
export async function postForm(
  url: string,
  params: Record<string, string | undefined>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) form.append(k, v);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: form,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export function basic(clientId: string, secret: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` };
}

export function payloadOf(token: string): Record<string, any> {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}
