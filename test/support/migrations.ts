import { migrations } from '../../migrations';
import { createTestDatabase, TestDatabase } from './database';

export type Migration = (typeof migrations)[number];

/** A migration's timestamp, from its class name. */
export const stampOf = (m: Migration) => Number(/(\d{13})$/.exec(new m().name)![1]);

/**
 * STYLE.md 8, in the describe of the migrations `under` test: the test that they are registered and
 * the list is in timestamp order, and a database no migration ran on (dropped after the describe),
 * for the test to build the previous schema in.
 */
export function migrationDatabase(...under: Migration[]): () => TestDatabase {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false });
  });
  afterAll(() => db?.drop());

  it(`${under.length > 1 ? 'are' : 'is'} registered, in timestamp order`, () => {
    const stamps = migrations.map(stampOf);
    expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
    expect(migrations).toEqual(expect.arrayContaining(under));
  });
  return () => db;
}
