/**
 * Bounded previews of file-controlled values for error messages. A name, a key or a
 * value read from a hostile file may be megabytes long, or a DAG of shared containers
 * whose printed tree is exponential in the file size: messages show at most a short
 * prefix of strings, the first few items of lists, and containers only by their type.
 */

/** Longest string shown whole; longer ones are cut and marked with `...`. */
export const PREVIEW_CHARS = 80;

/** `s` cut to `max` characters (`...` marks a cut), control characters escaped so a message stays one line. */
export function previewText(s: string, max = PREVIEW_CHARS): string {
  const cut = s.length > max ? `${s.slice(0, max)}...` : s;
  // eslint-disable-next-line no-control-regex
  return cut.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** The first `n` items, each previewed, then `... (N in all)` when there are more. */
export function previewList(items: readonly string[], n = 4, max = PREVIEW_CHARS): string {
  const shown = items
    .slice(0, n)
    .map((s) => previewText(s, max))
    .join(', ');
  return items.length > n ? `${shown}, ... (${items.length} in all)` : shown;
}

/**
 * A value for a message: strings (quoted, cut), numbers, bigints and booleans as
 * themselves, null as None, anything else by its kind only (never String() of a container).
 */
export function previewValue(v: unknown): string {
  if (typeof v === 'string') return `'${previewText(v)}'`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return `a list/tuple of ${v.length}`;
  if (v instanceof Map) return `a dict of ${v.size}`;
  if (ArrayBuffer.isView(v)) return 'bytes';
  return `a ${typeof v}`;
}
