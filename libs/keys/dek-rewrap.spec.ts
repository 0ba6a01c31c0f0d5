import { randomUUID } from 'node:crypto';
import { uuidLanes } from './dek-rewrap';

describe('uuidLanes', () => {
  it('splits the uuid space into contiguous ranges, every uuid in exactly one', () => {
    for (const n of [1, 2, 3, 8]) {
      const lanes = uuidLanes(n);
      expect(lanes).toHaveLength(n);
      expect(lanes[0].after).toBe('00000000-0000-0000-0000-000000000000');
      expect(lanes[n - 1].before).toBeNull();
      for (let i = 1; i < n; i++) expect(lanes[i].after).toBe(lanes[i - 1].before);
      for (let k = 0; k < 200; k++) {
        const id = randomUUID();
        expect(lanes.filter((l) => id > l.after && (l.before === null || id < l.before))).toHaveLength(1);
      }
    }
  });
});
