import { Pool } from 'pg';
import { pgPool, PreparedRead } from '../../libs/db';
import { createTestDatabase, TestDatabase } from '../support/database';

// OIDs: uuid, text, int8, text[], timestamptz, jsonb, int4, bytea.
const TYPES = [2950, 25, 20, 1009, 1184, 3802, 23, 17];
const TEXT = `SELECT $1::uuid, $2::text, $3::int8, $4::text[], $5::timestamptz, $6::jsonb, $7::int4, $8::bytea`;

describe('PreparedRead (named statement without a Describe per call)', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase({ migrate: false, poolSize: 1 });
    pool = pgPool(db.ds);
  });
  afterAll(() => db.drop());

  it("parses each column with pg's parser for its declared type, on a fresh and on an already prepared connection", async () => {
    const read = new PreparedRead('test_prepared_read_types', TEXT, TYPES);
    const at = new Date('2026-01-02T03:04:05.678Z');
    const values = ['9b2f4d8e-0c1a-4e5b-8f3d-2a6c7e9b1d04', 'a "text"', '42', ['x', 'y z'], at, JSON.stringify({ a: [1, null] }), 7];
    for (let i = 0; i < 3; i++) {
      const rows = await read.run(pool, [...values, Buffer.from([0, 255, 16])]);
      expect(rows).toEqual([
        ['9b2f4d8e-0c1a-4e5b-8f3d-2a6c7e9b1d04', 'a "text"', '42', ['x', 'y z'], at, { a: [1, null] }, 7, Buffer.from([0, 255, 16])],
      ]);
    }
    const nulls = await read.run(pool, [null, null, null, null, null, null, null, null]);
    expect(nulls).toEqual([[null, null, null, null, null, null, null, null]]);
    // pg's own Query with the same name and text shares the parsed statement.
    const viaPg = await pool.query({ name: 'test_prepared_read_types', text: TEXT, values: [...values, null], rowMode: 'array' });
    expect(viaPg.rows[0][2]).toBe('42');
  });

  it('returns no rows as an empty list', async () => {
    const read = new PreparedRead('test_prepared_read_empty', 'SELECT 1::int4 WHERE $1::bool', [23]);
    expect(await read.run(pool, [false])).toEqual([]);
    expect(await read.run(pool, [true])).toEqual([[1]]);
  });

  it('fails, and drops the connection, when the columns are not of the declared types', async () => {
    const read = new PreparedRead('test_prepared_read_mismatch', 'SELECT $1::int8', [23]);
    await expect(read.run(pool, ['5'])).rejects.toThrow(/test_prepared_read_mismatch.*other types than declared/);
    // The next run is on a new connection: checked again, never parsed with the wrong parser.
    await expect(read.run(pool, ['5'])).rejects.toThrow(/other types than declared/);
    expect(await new PreparedRead('test_prepared_read_after', 'SELECT $1::int8', [20]).run(pool, ['5'])).toEqual([['5']]);
  });

  it("rejects with Postgres's error and leaves the pool usable", async () => {
    const read = new PreparedRead('test_prepared_read_error', 'SELECT 1 / $1::int4', [23]);
    await expect(read.run(pool, [0])).rejects.toMatchObject({ code: '22012' });
    expect(await read.run(pool, [1])).toEqual([[1]]);
  });

  it('refuses a name already parsed on the connection with another text', async () => {
    await new PreparedRead('test_prepared_read_name', 'SELECT 1::int4', [23]).run(pool, []);
    await expect(new PreparedRead('test_prepared_read_name', 'SELECT 2::int4', [23]).run(pool, [])).rejects.toThrow(
      /parsed with a different text/,
    );
  });
});
