/**
 * Job progress on a terminal: one redrawn bar when the stream is a TTY; otherwise plain lines,
 * one per status change or 10% step (or every 10 s), so logs and pipes stay readable.
 */
export class ProgressDisplay {
  private last = { status: '', step: -1, at: 0 };
  private drawn = false;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}

  update(label: string, status: string, done: number, total: number): void {
    const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : status === 'succeeded' ? 100 : 0;
    if (this.out.isTTY) {
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      this.out.write(
        `\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)}% ${done}/${total} ${status}\x1b[K`,
      );
      this.drawn = true;
      return;
    }
    const step = Math.floor(pct / 10);
    const now = Date.now();
    if (status !== this.last.status || step !== this.last.step || now - this.last.at >= 10_000) {
      this.out.write(`${label} ${status} ${done}/${total} (${pct}%)\n`);
      this.last = { status, step, at: now };
    }
  }

  /** A line of its own (a hint, a result), below the bar. */
  note(text: string): void {
    this.end();
    this.out.write(text + '\n');
  }

  end(): void {
    if (this.drawn) this.out.write('\n');
    this.drawn = false;
  }
}
