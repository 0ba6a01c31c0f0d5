/** The value at a dotted path of a parsed JSON document, or undefined. Own properties only. */
export function valueAt(doc: unknown, path: string): unknown {
  let cur: unknown = doc;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur) || !Object.prototype.hasOwnProperty.call(cur, key)) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}

/** A string, or a finite number as a string (GitHub user ids are numbers); otherwise undefined. */
export function stringAt(doc: unknown, path: string): string | undefined {
  const v = valueAt(doc, path);
  if (typeof v === 'string' && v.length > 0 && v.length <= 2048) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}
