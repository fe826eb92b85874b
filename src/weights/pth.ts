/**
 * PyTorch `.pth`/`.pt` files (torch.save's zip format, PyTorch >= 1.6):
 * `<prefix>/data.pkl` (the pickled object), `<prefix>/data/<key>` (raw little-endian
 * storages), `<prefix>/version`, `<prefix>/byteorder`. The prefix is whatever single
 * top-level folder holds `data.pkl` (`archive` for files torch writes today, the
 * file's stem for older ones, e.g. `checkpoint` in timm checkpoints).
 *
 * Reading goes through the restricted unpickler of pickle.ts (no code execution);
 * writing produces files `torch.load(f, weights_only=True)` accepts. Pure TypeScript
 * on Uint8Array, so the browser build shares it.
 */
import { pickleTorch, unpickle, type UnpickleOptions } from './pickle.js';
import { looksLikeSafetensors } from './safetensors.js';
import type { DType } from './tensor.js';
import { looksLikeZip, readZip, writeZip, type ZipArchive, type ZipInput } from './zip.js';

/** Raised when a file is not a loadable PyTorch checkpoint; the message says why and what to do. */
export class PthError extends Error {
  override name = 'PthError';
}

/** Protocol-2 pickle start followed by LONG1 of torch's legacy magic number 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

const RESAVE_HINT = 'load it in Python with a recent PyTorch and re-save it: torch.save(torch.load(f), f2)';

function startsWith(bytes: Uint8Array, sig: readonly number[]): boolean {
  return bytes.length >= sig.length && sig.every((b, i) => bytes[i] === b);
}

/** True for torch's legacy (pre-1.6, non-zip) format: a bare pickle stream or the old tar format. */
export function isLegacyTorch(bytes: Uint8Array): boolean {
  if (startsWith(bytes, LEGACY_MAGIC)) return true;
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1]! >= 2 && bytes[1]! <= 5) return true;
  // torch < 0.4 wrote a tar archive: "ustar" at offset 257.
  return bytes.length > 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar';
}

/** What a weight file's bytes are. */
export type FileKind = 'safetensors' | 'torch-zip' | 'legacy-torch' | 'unknown';

/**
 * Identifies a weight file by its content (never its name). The one detector: readers
 * call it once per load and pass the answer on, instead of each layer sniffing the same
 * bytes again (#15: zip, safetensors and legacy checks ran 2-3 times per file).
 */
export function sniffFormat(bytes: Uint8Array): FileKind {
  if (looksLikeZip(bytes)) return 'torch-zip';
  // safetensors before legacy pickle: a header length of 0x..0280 also starts with 0x80 0x02.
  if (looksLikeSafetensors(bytes)) return 'safetensors';
  if (isLegacyTorch(bytes)) return 'legacy-torch';
  return 'unknown';
}

/** The refusal of a legacy (pre-1.6, non-zip) torch file, with how to re-save it. */
export function legacyTorchError(): PthError {
  return new PthError(`this is a legacy (pre-1.6, non-zip) PyTorch file, which repghost does not read; ${RESAVE_HINT}`);
}

/**
 * Names what a non-checkpoint file looks like (PNG, HTML page, ...) for error messages,
 * or returns null when the start of the file says nothing useful.
 */
export function describeContent(bytes: Uint8Array): string | null {
  if (bytes.length === 0) return 'an empty file';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47])) return 'a PNG image';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'a JPEG image';
  if (startsWith(bytes, [0x1f, 0x8b])) return 'a gzip file (decompress it first)';
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 512)).trimStart().toLowerCase();
  if (
    head.startsWith('<!doctype html') ||
    head.startsWith('<html') ||
    head.startsWith('<?xml') ||
    head.startsWith('<')
  ) {
    return 'an HTML/XML page (a failed download or a login page?)';
  }
  if (head.startsWith('version https://git-lfs')) return 'a Git LFS pointer file (run git lfs pull)';
  if (head.startsWith('{') || head.startsWith('[')) return 'a JSON/text file';
  return null;
}

/** Options for {@link readPth}. */
export interface ReadPthOptions {
  /** Verify each record's CRC32 (default false: bounds checks already catch truncation; costs ~3 ms per MB). */
  verifyCrc?: boolean;
  /** Maximum nesting depth of the unpickled data (default 256). */
  maxDepth?: number;
}

/** Finds the single record prefix (top-level folder) that holds `data.pkl`. */
function findPrefix(zip: ZipArchive): string {
  const prefixes: string[] = [];
  for (const name of zip.entries.keys()) {
    const parts = name.split('/');
    if (parts.length === 2 && parts[1] === 'data.pkl') prefixes.push(parts[0]!);
  }
  if (prefixes.length === 0) {
    throw new PthError(
      'not a PyTorch checkpoint: the zip has no <folder>/data.pkl record (is it a zip of something else?)',
    );
  }
  if (prefixes.length > 1)
    throw new PthError(`ambiguous PyTorch checkpoint: data.pkl found under ${prefixes.join(', ')}`);
  return prefixes[0]!;
}

/**
 * Reads a torch.save zip file and returns the unpickled object (value mapping in
 * pickle.ts: dicts are Maps in insertion order, ints are numbers or bigints beyond
 * 2^53, tensors are contiguous {@link Tensor} copies). Throws PthError/ZipError/PickleError
 * with a message naming the cause; legacy (pre-1.6) files are refused with how to re-save them.
 */
export function readPth(bytes: Uint8Array, opts: ReadPthOptions = {}): unknown {
  switch (sniffFormat(bytes)) {
    case 'torch-zip':
      return readTorchZip(bytes, opts);
    case 'safetensors':
      throw new PthError(
        'this is a safetensors file, not a PyTorch checkpoint: read it with readSafetensors or readCheckpoint',
      );
    case 'legacy-torch':
      throw legacyTorchError();
    default: {
      const what = describeContent(bytes);
      throw new PthError(`not a PyTorch checkpoint (not a zip file${what ? `: it looks like ${what}` : ''})`);
    }
  }
}

/** {@link readPth} for bytes that {@link sniffFormat} already called 'torch-zip' (no second detection). */
export function readTorchZip(bytes: Uint8Array, opts: ReadPthOptions = {}): unknown {
  const zip = readZip(bytes, { verifyCrc: opts.verifyCrc });
  const prefix = findPrefix(zip);
  if (
    zip.entries.has(`${prefix}/constants.pkl`) ||
    [...zip.entries.keys()].some((n) => n.startsWith(`${prefix}/code/`))
  ) {
    throw new PthError(
      'this is a TorchScript archive (torch.jit.save), not a state dict; ' +
        'in Python load it with torch.jit.load and save model.state_dict() with torch.save',
    );
  }
  const order = zip.entries.has(`${prefix}/byteorder`)
    ? new TextDecoder().decode(zip.read(`${prefix}/byteorder`)).trim()
    : 'little';
  if (order !== 'little')
    throw new PthError(
      `the checkpoint's byte order is '${order}'; ` +
        `only little-endian files are supported (${RESAVE_HINT} on a little-endian machine)`,
    );

  const loadStorage = (key: string, dtype: DType, numel: number): Uint8Array => {
    const name = `${prefix}/data/${key}`;
    if (!zip.entries.has(name)) {
      throw new PthError(
        `the pickle references storage '${key}' (${numel} ${dtype}) ` +
          `but the zip has no record ${name}: incomplete or corrupt file`,
      );
    }
    return zip.read(name);
  };
  const uopts: UnpickleOptions = {
    loadStorage,
    maxDepth: opts.maxDepth,
    // Legit files materialize about their own size (shared storages a little more);
    // the budget stops a small hostile file from expanding one storage many times.
    maxTensorBytes: 4 * bytes.length + 64 * 2 ** 20,
  };
  return unpickle(zip.read(`${prefix}/data.pkl`), uopts);
}

/** Options for {@link writePth}. */
export interface WritePthOptions {
  /** Record prefix (top-level folder) in the zip; default 'archive' as torch >= 2 writes. */
  prefix?: string;
}

/**
 * Writes a value tree as a torch.save zip that `torch.load(f, weights_only=True)` reads:
 * a StateDict (Map of tensors) becomes an OrderedDict; nested training dicts
 * (Maps/objects/arrays/numbers/strings/booleans/null/tensors) work too, see pickleTorch
 * in pickle.ts for the exact mapping. Records are 64-byte aligned like torch's writer.
 */
export function writePth(value: unknown, opts: WritePthOptions = {}): Uint8Array {
  const prefix = opts.prefix ?? 'archive';
  if (!/^[A-Za-z0-9_.-]+$/.test(prefix)) throw new PthError(`bad record prefix '${prefix}'`);
  const { pickle, storages } = pickleTorch(value);
  const enc = new TextEncoder();
  const entries: ZipInput[] = [
    { name: `${prefix}/data.pkl`, data: pickle },
    { name: `${prefix}/byteorder`, data: enc.encode('little') },
    ...storages.map((s) => ({ name: `${prefix}/data/${s.key}`, data: s.bytes })),
    { name: `${prefix}/version`, data: enc.encode('3\n') },
  ];
  return writeZip(entries, { align: 64 });
}
