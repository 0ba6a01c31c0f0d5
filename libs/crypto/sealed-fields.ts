import { Logger } from '@nestjs/common';
import { CURRENT_AAD_SCHEME, RecordRef, schemeOf } from './aad-scheme';
import { KeyUnwrapError } from './key-provider';
import { Keyring } from './keyring';

/** SQLSTATE raised by the `key_version_guard` trigger: the row was sealed under a tenant key retired meanwhile. */
const RETIRED_KEY_VERSION = 'VK001';
const WRITE_ATTEMPTS = 3;

/** What a store writes: the DEK wrapped under `tkVersion` and each field's ciphertext (null stays null). */
export interface SealedWrite {
  tkVersion: number;
  dekWrapped: Buffer;
  fields: Record<string, Buffer | null>;
}

/**
 * Who is told when a field does not open. `audit` is the audit log (structurally: crypto does not
 * depend on it); the rest names the decision the failure belongs to, as its audit record does.
 */
export interface DecryptAlarm {
  audit: {
    record(e: {
      tenant: string;
      action: string;
      outcome: 'error';
      reason: string;
      agent?: string;
      subject?: string;
      integration?: string;
      details?: Record<string, unknown>;
    }): Promise<unknown>;
  };
  action: string;
  agent?: string;
  subject?: string;
  integration?: string;
  details?: Record<string, unknown>;
}

/**
 * The one way a store seals and opens secret fields, in the style of the aws-encryption-sdk
 * keyrings: preconditions (a known table, exactly its identifying columns bound — `checkRef` in
 * the keyring) and postconditions checked around the keyring's small seal/open.
 *
 * - `write`: seal → write → on `VK001` (a tenant key retired between seal and commit) seal again
 *   and retry → zero the plaintext, whatever happened. The buffers passed in are the helper's to
 *   zero: a caller that loops must hand in fresh copies each time.
 * - `open`: a missing ciphertext or DEK (NULL) fails like a tampered one; every failure is logged
 *   as an `ALERT decrypt_failed` line, audited as `decrypt_failed` (fail closed: if the audit log
 *   cannot take it, its error propagates) and surfaces as the one generic `KeyUnwrapError`.
 *
 * @example
 *   await sealed.write({ tenant, table: 'integrations', id, bind: { name } }, { client_secret: buf }, (s) => insert(s));
 *   const b = await sealed.open(ref, { dekWrapped, ct }, 'client_secret', { audit, action: 'integration.client_secret' });
 */
export class SealedFields {
  private readonly log = new Logger('crypto');

  constructor(readonly keyring: Keyring) {}

  async write<T>(ref: RecordRef, plaintext: Record<string, Buffer | null>, write: (sealed: SealedWrite) => Promise<T>): Promise<T> {
    try {
      for (let attempt = 1; ; attempt++) {
        const sealed = await this.keyring.seal(ref, plaintext);
        assertSealed(plaintext, sealed);
        try {
          return await write(sealed);
        } catch (err) {
          if (!isRetiredKeyVersion(err) || attempt >= WRITE_ATTEMPTS) throw err;
        }
      }
    } finally {
      for (const v of Object.values(plaintext)) v?.fill(0);
    }
  }

  /** Opens one field; the caller zeroes the result. */
  open(ref: RecordRef, sealed: { dekWrapped: Buffer | null; ct: Buffer | null }, field: string, alarm: DecryptAlarm): Promise<Buffer> {
    const plain = this.openNow(ref, sealed, field, alarm);
    return plain instanceof Promise ? plain : Promise.resolve(plain);
  }

  /**
   * `open` without a promise when the tenant key is cached (every release after warm-up): the
   * plaintext; otherwise `open`'s promise (a key to load, or a failure to alarm and audit).
   */
  openNow(
    ref: RecordRef,
    sealed: { dekWrapped: Buffer | null; ct: Buffer | null },
    field: string,
    alarm: DecryptAlarm,
  ): Buffer | Promise<Buffer> {
    const { dekWrapped, ct } = sealed;
    try {
      if (!dekWrapped || !ct) throw new KeyUnwrapError();
      const plain = this.keyring.openCached(ref, dekWrapped, field, ct);
      if (plain) return plain;
      return this.keyring.open(ref, dekWrapped, field, ct).catch((err: unknown) => this.failed(err, ref, field, alarm));
    } catch (err) {
      return this.failed(err, ref, field, alarm);
    }
  }

  private async failed(err: unknown, ref: RecordRef, field: string, alarm: DecryptAlarm): Promise<never> {
    if (!(err instanceof KeyUnwrapError)) throw err;
    await this.alert(ref, field, alarm);
    throw new KeyUnwrapError();
  }

  /** Reports a field that did not open (also for callers that go on without it). */
  async alert(ref: RecordRef, field: string, alarm: DecryptAlarm): Promise<void> {
    // Ids only: the owner columns are the very thing that may have been tampered with, and may be personal.
    this.log.error(`ALERT decrypt_failed tenant=${ref.tenant} table=${ref.table} record=${ref.id} field=${field}`);
    await alarm.audit.record({
      tenant: ref.tenant,
      action: alarm.action,
      outcome: 'error',
      reason: 'decrypt_failed',
      agent: alarm.agent,
      subject: alarm.subject,
      integration: alarm.integration,
      details: { table: ref.table, record: ref.id, field, ...alarm.details },
    });
  }
}

/** Postcondition of a seal: every field present, non-null exactly where the plaintext was, under the current scheme. */
function assertSealed(plaintext: Record<string, Buffer | null>, sealed: SealedWrite): void {
  for (const [name, value] of Object.entries(plaintext)) {
    const ct = sealed.fields[name];
    if (ct === undefined || (value === null) !== (ct === null) || (ct !== null && schemeOf(ct) !== CURRENT_AAD_SCHEME)) {
      throw new Error(`sealing postcondition failed for field ${name}; nothing was written`);
    }
  }
}

/** Whether a write failed on the key version guard (directly, or wrapped by TypeORM). */
export function isRetiredKeyVersion(err: unknown): boolean {
  const e = err as { code?: unknown; driverError?: { code?: unknown } } | null;
  return e?.code === RETIRED_KEY_VERSION || e?.driverError?.code === RETIRED_KEY_VERSION;
}
