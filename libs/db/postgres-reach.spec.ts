import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstClosedFolder } from './postgres-reach';

describe('firstClosedFolder', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'reach-'));
    chmodSync(root, 0o755);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  // Another account than the folders' owner, in none of their groups: only the "other" bits count for it.
  const stranger = () => ({ uid: statSync(root).uid + 4242, gids: [statSync(root).gid + 4242] });

  it('names the first folder on the way that the account may not enter', () => {
    const locked = join(root, 'home');
    mkdirSync(join(locked, 'project', 'node_modules'), { recursive: true });
    chmodSync(locked, 0o700);
    expect(firstClosedFolder(join(locked, 'project', 'node_modules', 'bin'), stranger())).toBe(locked);
  });

  it('passes folders others may traverse without listing (o+x), and the owner through its own bits', () => {
    const dir = join(root, 'a', 'b');
    mkdirSync(dir, { recursive: true });
    chmodSync(join(root, 'a'), 0o711);
    expect(firstClosedFolder(dir, stranger())).toBeUndefined();
    chmodSync(join(root, 'a'), 0o700);
    expect(firstClosedFolder(dir, { uid: statSync(root).uid, gids: [] })).toBeUndefined();
  });

  it('uses the group bits for an account in the folder group', () => {
    const dir = join(root, 'shared');
    mkdirSync(dir);
    chmodSync(dir, 0o710);
    const gid = statSync(dir).gid;
    expect(firstClosedFolder(join(dir, 'x'), { uid: statSync(root).uid + 4242, gids: [gid] })).toBeUndefined();
    expect(firstClosedFolder(join(dir, 'x'), stranger())).toBe(dir);
  });

  it('a path whose end does not exist yet is judged by the folders that do', () => {
    expect(firstClosedFolder(join(root, 'not', 'yet'), stranger())).toBeUndefined();
    chmodSync(root, 0o700);
    expect(firstClosedFolder(join(root, 'not', 'yet'), stranger())).toBe(root);
  });
});
