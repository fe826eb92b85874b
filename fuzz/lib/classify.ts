/**
 * Telling deliberate errors from accidents. A parser fed garbage must throw one of the
 * package's own error classes with a message naming the cause; anything else that
 * escapes (a TypeError from reading a field of undefined, a RangeError from a typed
 * array or DataView, a stack overflow, a non-Error value) is a crash, even when a
 * wrapper such as readCheckpoint re-threw it inside a CheckpointError (the `cause`
 * chain is walked) or decodeImageFile folded its message into an ImageDecodeError (the
 * message is checked for V8's wording).
 */

/** The package's deliberate error classes (by name: the classes live in several modules). */
export const DELIBERATE_ERRORS = new Set([
  'ZipError',
  'PickleError',
  'PthError',
  'CheckpointError',
  'SafetensorsError',
  'WeightsMismatchError',
  'ImageDecodeError',
  'IdxError',
  'WeightValueError',
]);

/** V8/Node wording of accidental failures; none of our messages use these phrases. */
const ACCIDENTAL_MESSAGE = new RegExp(
  [
    'Cannot read propert',
    'Cannot set propert',
    'is not a function',
    'is not iterable',
    'is not a constructor',
    'Invalid typed array length',
    'outside the bounds',
    'Offset is outside',
    'Start offset',
    'should be a multiple of',
    'Invalid array length',
    'Invalid string length',
    'Maximum call stack size exceeded',
    'Array buffer allocation failed',
    'Cannot convert',
    'Cannot mix BigInt',
    'Do not know how to serialize a BigInt',
    'out of memory',
    'ERR_INVALID_STATE',
    'Converting circular structure',
  ]
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('|'),
);

/** Outcome of one case. */
export type Verdict =
  | { outcome: 'accepted' }
  | { outcome: 'error'; kind: string }
  | { outcome: 'crash'; kind: string; message: string; stack?: string };

/** Shortens a message into a stable "kind" for counting: numbers, quoted names and paths folded. */
export function errorKind(name: string, message: string): string {
  const m = message
    .replace(/'[^']*'/g, "'…'")
    .replace(/"[^"]*"/g, '"…"')
    .replace(/\[[^\]]*\]/g, '[…]')
    .replace(/\b0x[0-9a-f]+\b/gi, 'N')
    .replace(/\b\d+(\.\d+)?(e[+-]?\d+)?\b/gi, 'N')
    .replace(/\s+/g, ' ');
  return `${name}: ${m.slice(0, 110)}`;
}

/** Classifies what a parse threw. */
export function classify(thrown: unknown): Verdict {
  if (!(thrown instanceof Error)) {
    return { outcome: 'crash', kind: `non-Error thrown (${typeof thrown})`, message: String(thrown).slice(0, 500) };
  }
  const top = thrown;
  for (let e: unknown = thrown, depth = 0; e !== undefined && depth < 10; e = e.cause, depth++) {
    if (!(e instanceof Error))
      return { outcome: 'crash', kind: 'non-Error cause', message: top.message, stack: top.stack };
    const generic = e.constructor === Error;
    const ours = DELIBERATE_ERRORS.has(e.name);
    if ((!ours && !generic) || !e.message || ACCIDENTAL_MESSAGE.test(e.message)) {
      return {
        outcome: 'crash',
        kind: errorKind(e.name, e.message),
        message: `${e.name}: ${e.message}`.slice(0, 2000),
        stack: e.stack,
      };
    }
  }
  // A plain Error with a message is clean too (loadWeights's "fit no RepGhostNet model" is one), counted under its
  // own kind.
  return { outcome: 'error', kind: errorKind(top.name, top.message) };
}
