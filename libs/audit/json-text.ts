/** What `JSON.stringify` escapes in a string: quote, backslash, control characters, lone surrogates. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const NEEDS_ESCAPE = /["\\\u0000-\u001f]|\p{Cs}/u;
/** Above this many characters a text is copied by Buffer#write rather than a loop. */
const LOOP_COPY = 64;
/** A buffer grown past this (details are refused above 16 K characters) is not kept for the next text. */
const MAX_KEPT = 256 * 1024;

/**
 * Writes one JSON text into a reused buffer and reads it back as one string. Appending to a string
 * instead makes an intermediate string per append (~32 B each, a few dozen per audit event) that
 * is copied once more when the text is hashed. Not reentrant: one text at a time per instance.
 *
 * @example
 *   w.reset(); w.raw('{"a":'); w.str(value); w.raw('}'); const json = w.text();
 */
export class JsonText {
  private buf = Buffer.allocUnsafe(4096);
  private bytes = 0;
  private ascii = true;
  /** Length of the text written so far, in UTF-16 code units (what `text().length` will be). */
  chars = 0;

  reset(): void {
    if (this.buf.length > MAX_KEPT) this.buf = Buffer.allocUnsafe(4096); // one huge text does not pin its buffer
    this.bytes = 0;
    this.chars = 0;
    this.ascii = true;
  }

  /** Appends text that is JSON already (punctuation, numbers, `JSON.stringify` output): never a lone surrogate. */
  raw(s: string): void {
    this.reserve(s.length * 3);
    const len = s.length;
    const start = this.bytes;
    this.chars += len;
    if (len <= LOOP_COPY && this.copyAscii(s, start, false)) this.bytes = start + len;
    else this.bytes = start + this.write(s, start);
  }

  /** Appends `JSON.stringify(s)`. */
  str(s: string): void {
    const len = s.length;
    this.reserve(len * 3 + 2);
    const start = this.bytes;
    // Short ASCII text with nothing to escape (ids, names, codes) is copied in a loop; anything else checked first.
    if (len > LOOP_COPY || !this.copyAscii(s, start + 1, true)) {
      if (NEEDS_ESCAPE.test(s)) return this.raw(JSON.stringify(s));
      this.bytes = start + 1 + this.write(s, start + 1);
    } else {
      this.bytes = start + 1 + len;
    }
    this.buf[start] = 0x22;
    this.buf[this.bytes++] = 0x22;
    this.chars += len + 2;
  }

  /** The text written since `reset`, as one string. */
  text(): string {
    return this.buf.toString(this.ascii ? 'latin1' : 'utf8', 0, this.bytes);
  }

  /** Copies `s` to `at` if it is all ASCII (and, with `plain`, holds nothing JSON escapes); false, having copied part of it, if not. */
  private copyAscii(s: string, at: number, plain: boolean): boolean {
    const buf = this.buf;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80 || (plain && (c < 0x20 || c === 0x22 || c === 0x5c))) return false;
      buf[at + i] = c;
    }
    return true;
  }

  /** Writes `s` at `at` as UTF-8 (room reserved by the caller); how many bytes. */
  private write(s: string, at: number): number {
    const written = this.buf.write(s, at, 'utf8');
    if (written !== s.length) this.ascii = false; // UTF-8 is as long as the UTF-16 text only when all of it is ASCII
    return written;
  }

  private reserve(more: number): void {
    if (this.bytes + more <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.bytes + more));
    this.buf.copy(bigger, 0, 0, this.bytes);
    this.buf = bigger;
  }
}
