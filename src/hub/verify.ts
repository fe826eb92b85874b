/**
 * Checks a downloaded file before it may enter a cache: not an HTML page, the sha256
 * the server stated, and - always - that it parses as the expected model's weights.
 * A file that fails any check is never cached, so a cache hit can be trusted.
 *
 * Browser-safe: no `node:` imports (the hash comes from the caller).
 */
import { loadWeights } from '../reparam/load.js';
import { HubError, htmlError } from './errors.js';

/** Options a verifier gets: the model expected and how to read the file. */
export interface VerifyTarget {
  /** Official model name the file must fit. */
  model: string;
  /** Read `state_dict_ema` (official release checkpoints). */
  ema: boolean;
  /** The file's base name, for the loader's messages. */
  fileName: string;
  /** Where it came from, for our messages. */
  url: string;
  /** Classifier outputs the published weights have. */
  numClasses: number;
}

/** Throws when `bytes` are not the target's weights; the default is {@link verifyWeights}. */
export type Verifier = (bytes: Uint8Array, target: VerifyTarget) => void | Promise<void>;

/**
 * True when the bytes start like an HTML/XML document (after a BOM and white space).
 * Weight files never start with '<': safetensors with a length, torch zips with "PK",
 * pickles with 0x80.
 */
export function looksLikeHtml(head: Uint8Array): boolean {
  let i = 0;
  if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) i = 3;
  while (i < head.length && (head[i] === 0x20 || head[i] === 0x09 || head[i] === 0x0a || head[i] === 0x0d)) i++;
  if (head[i] !== 0x3c) return false; // '<'
  const next = head[i + 1];
  // '!', '?', letter
  return next === undefined || next === 0x21 || next === 0x3f || ((next | 0x20) >= 0x61 && (next | 0x20) <= 0x7a);
}

/** Lower-case hex of a digest. */
export function toHex(digest: ArrayBuffer | Uint8Array): string {
  const b = digest instanceof Uint8Array ? digest : new Uint8Array(digest);
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

/**
 * Rejects a hash mismatch; `expected` undefined means the server stated none.
 * (Messages here say what is wrong; callers add what happened to the file.)
 */
export function checkSha256(actual: string, expected: string | undefined, url: string): void {
  if (expected && actual !== expected) {
    throw new HubError(
      'sha256',
      `sha256 mismatch for ${url}: the server states ${expected}, the download has ${actual}`,
    );
  }
}

/**
 * The default verifier: the file must be weights of `target.model` (either form)
 * with the published class count. Wraps the loader's explanation in one line.
 */
export function verifyWeights(bytes: Uint8Array, target: VerifyTarget): void {
  if (looksLikeHtml(bytes.subarray(0, 512))) throw htmlError(target.url);
  let numClasses: number;
  try {
    numClasses = loadWeights(bytes, { model: target.model, ema: target.ema, fileName: target.fileName }).spec
      .numClasses;
  } catch (e) {
    throw new HubError('not-weights', `${target.url} is not ${target.model} weights: ${oneLine(e)}`, false, {
      cause: e,
    });
  }
  if (numClasses !== target.numClasses) {
    throw new HubError(
      'not-weights',
      `${target.url} has ${numClasses} classes, the published ${target.model} weights have ${target.numClasses}`,
    );
  }
}

function oneLine(e: unknown): string {
  return (
    (e instanceof Error ? e.message : String(e))
      .replace(/\s*\n\s*/g, ' ')
      // The loader's "pass --model X" advice is about loading a local file; here the
      // model is fixed and the remedy is a different source or mirror.
      .replace(/: pass --model [\w.]+/g, '')
      .trim()
  );
}
