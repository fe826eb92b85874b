/**
 * ImageFolder datasets (Node only: reads folders): `<root>/<class>/<image>`, indexed as
 * torchvision's `ImageFolder` does (classes = sorted folder names, samples in sorted
 * os.walk order with symlinks followed), and timm's train/validation split folders of a
 * dataset root. Used by `repghost validate` and by ImageFolder training.
 *
 * Where torchvision would misbehave on a hostile tree we part from it, on purpose:
 * - a directory is walked once per class, recognised by (dev, inode): a symlink loop
 *   (`c0/a -> .`) is not followed again, and a file reached again through a symlinked
 *   directory is counted once (at its real place when that is inside the class folder);
 * - hard links are separate paths and counted as torchvision counts them (each one);
 * - names are read as bytes, so a name that is not UTF-8 is found and opened (its
 *   display string shows U+FFFD where the bytes are not UTF-8).
 *
 * The index is compact, because ImageNet has 1.28M files and every data-parallel rank
 * holds one: one byte buffer of file names, their end offsets and the folder of each
 * file (folders are few). About 25 bytes per ImageNet file instead of ~200 for an array
 * of {file, target} objects.
 */
import { readdir, stat } from 'node:fs/promises';
import { isUtf8 } from 'node:buffer';
import path from 'node:path';

/** torchvision's IMG_EXTENSIONS: what ImageFolder picks up (case-insensitive). */
export const IMG_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp'];

/** A path for `fs` calls: a string, or the exact bytes of a name that is not UTF-8 (Node's fs takes both). */
export type FsPath = string | Uint8Array;

/**
 * A dataset folder whose layout is wrong (missing, no class folders, empty classes):
 * a mistake in what the user pointed at, reported as one line (the CLI exits with 2).
 */
export class ImageFolderError extends Error {
  override name = 'ImageFolderError';
}

const SEP = 0x2f; // '/'
const utf8 = new TextDecoder('utf-8');

/**
 * Python's str order of names read with `surrogateescape` (code point order, undecodable
 * bytes as U+DC80..U+DCFF). For UTF-8 names this is plain byte order.
 */
export function comparePythonNames(a: Uint8Array, b: Uint8Array): number {
  if (isUtf8(a) && isUtf8(b)) return Buffer.compare(a, b);
  const ca = pythonCodePoints(a);
  const cb = pythonCodePoints(b);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return ca[i]! - cb[i]!;
  return ca.length - cb.length;
}

/** Decodes UTF-8 as Python's os.fsdecode does: each byte of an invalid sequence becomes U+DC00 + byte. */
function pythonCodePoints(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    const len = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
    if (len > 0 && i + len <= b.length && isUtf8(b.subarray(i, i + len))) {
      out.push(utf8.decode(b.subarray(i, i + len)).codePointAt(0)!);
      i += len;
    } else {
      out.push(0xdc00 + c);
      i++;
    }
  }
  return out;
}

const hasImageExtension = (name: Uint8Array): boolean => {
  const dot = name.lastIndexOf(0x2e);
  if (dot <= 0) return false; // path.extname: a leading dot is a hidden file, not an extension
  const ext = Buffer.from(name.buffer, name.byteOffset + dot, name.length - dot)
    .toString('latin1')
    .toLowerCase();
  return IMG_EXTENSIONS.includes(ext);
};

/** Growable typed array storage (doubling), trimmed to size when the index is complete. */
class Grow<T extends Uint8Array | Uint32Array> {
  length = 0;
  constructor(
    public data: T,
    private readonly make: (n: number) => T,
  ) {}
  reserve(extra: number): void {
    if (this.length + extra <= this.data.length) return;
    const bigger = this.make(Math.max(this.length + extra, this.data.length * 2));
    bigger.set(this.data.subarray(0, this.length));
    this.data = bigger;
  }
  push(v: number): void {
    this.reserve(1);
    this.data[this.length++] = v;
  }
  append(bytes: ArrayLike<number>): void {
    this.reserve(bytes.length);
    this.data.set(bytes, this.length);
    this.length += bytes.length;
  }
  trimmed(): T {
    return this.data.slice(0, this.length) as T;
  }
}

/** The image files of one folder, before ordering: its path relative to the root and its file names. */
interface FolderFiles {
  rel: Uint8Array;
  names: Uint8Array[];
}

/** Joins path parts with '/'; an empty first part (the root prefix, which ends with '/') adds none. */
const join = (...parts: Uint8Array[]): Buffer => {
  const out = Buffer.alloc(parts.reduce((n, p) => n + p.length, 0) + parts.length - 1);
  let at = 0;
  parts.forEach((p, i) => {
    if (i && out[at - 1] !== SEP) out[at++] = SEP;
    out.set(p, at);
    at += p.length;
  });
  return out.subarray(0, at);
};

/** `dev:ino` of a directory (BigInt: inode numbers may exceed 2^53), or null when it cannot be read. */
async function dirKey(p: Buffer): Promise<string | null> {
  const st = await stat(p, { bigint: true }).catch(() => null);
  return st?.isDirectory() ? `${st.dev}:${st.ino}` : null;
}

/**
 * Walks one class folder: its real subfolders first (so a file is counted where it
 * really is), then the symlinked folders found on the way, each (dev, inode) once.
 * Returns the folders with their image names, in torchvision's order.
 */
async function walkClass(rootBytes: Uint8Array, classRel: Uint8Array, visited: Set<string>): Promise<FolderFiles[]> {
  const folders: FolderFiles[] = [];
  const linked: Uint8Array[] = [];
  const walkReal = async (rel: Uint8Array): Promise<void> => {
    const names: Uint8Array[] = [];
    const entries = await readdir(join(rootBytes, rel), { withFileTypes: true, encoding: 'buffer' }).catch(() => []);
    for (const e of entries) {
      const name = e.name as unknown as Buffer;
      const childRel = join(rel, name);
      if (e.isDirectory()) {
        const key = await dirKey(join(rootBytes, childRel));
        if (key && !visited.has(key)) {
          visited.add(key);
          await walkReal(childRel);
        }
      } else if (e.isSymbolicLink() && (await dirKey(join(rootBytes, childRel))) !== null) {
        linked.push(childRel); // as os.walk(followlinks=True): a link to a folder is a folder
      } else if (hasImageExtension(name)) {
        names.push(new Uint8Array(name)); // own copy: readdir's names may share one pool
      }
    }
    if (names.length) folders.push({ rel, names: names.sort(comparePythonNames) });
  };
  await walkReal(classRel);
  // Links found while walking linked folders are appended, and visited by this same loop.
  for (const link of linked) {
    const key = await dirKey(join(rootBytes, link));
    if (key && !visited.has(key)) {
      visited.add(key);
      await walkReal(link);
    }
  }
  // sorted(os.walk(...)): folders by path; names already sorted within a folder.
  return folders.sort((a, b) => comparePythonNames(a.rel, b.rel));
}

/**
 * The files of an ImageFolder and their class indices, in torchvision's order, held
 * compactly (see the module comment). Build one with {@link ImageFolderIndex.read}.
 *
 * The API used by samplers and loaders: `length`, `path(i)`, `fsPath(i)`, `label(i)`,
 * `classes`, `root`.
 */
export class ImageFolderIndex {
  private constructor(
    /** The dataset folder as given. */
    readonly root: string,
    /** Class names (folder names, in torchvision's sorted order); class i is folder `classes[i]`. */
    readonly classes: readonly string[],
    private readonly rootBytes: Uint8Array,
    private readonly folderRel: readonly Uint8Array[],
    private readonly folderClass: Int32Array,
    private readonly names: Uint8Array,
    private readonly nameEnd: Uint32Array,
    private readonly fileFolder: Uint32Array,
  ) {}

  /** Number of images. */
  get length(): number {
    return this.nameEnd.length;
  }

  /** Class index of image i (its folder's position in {@link classes}). */
  label(i: number): number {
    return this.folderClass[this.fileFolder[this.check(i)]!]!;
  }

  /** The exact path bytes of image i (root/class/.../name). */
  pathBytes(i: number): Uint8Array {
    this.check(i);
    const name = this.names.subarray(i ? this.nameEnd[i - 1]! : 0, this.nameEnd[i]);
    return join(this.rootBytes, this.folderRel[this.fileFolder[i]!]!, name);
  }

  /** Path of image i as a string, for messages and reports (U+FFFD where a name is not UTF-8). */
  path(i: number): string {
    return utf8.decode(this.pathBytes(i));
  }

  /** Path of image i for `fs` calls: the string when it is UTF-8 (most names), else the exact bytes. */
  fsPath(i: number): FsPath {
    const bytes = this.pathBytes(i);
    return isUtf8(bytes) ? utf8.decode(bytes) : bytes;
  }

  /** Bytes the index holds (typed arrays and folder paths), for memory reports. */
  get byteSize(): number {
    return (
      this.names.byteLength +
      this.nameEnd.byteLength +
      this.fileFolder.byteLength +
      this.folderClass.byteLength +
      this.folderRel.reduce((n, r) => n + r.byteLength, 0)
    );
  }

  private check(i: number): number {
    if (!(i >= 0 && i < this.length && Number.isInteger(i))) {
      throw new RangeError(`image index ${i} out of range [0, ${this.length})`);
    }
    return i;
  }

  /**
   * Lists an ImageFolder as torchvision's `ImageFolder` indexes it (with the safeguards of
   * the module comment). Throws {@link ImageFolderError} for a missing folder, no class
   * folders, or a class folder without images (torchvision refuses those too).
   */
  static async read(root: string): Promise<ImageFolderIndex> {
    // Ends with '/': paths are root + relative path, as path.join(root, ...) would make them.
    const rootBytes = Buffer.from(path.join(root, '/'));
    const rootKey = await dirKey(rootBytes);
    if (!rootKey) throw new ImageFolderError(`dataset folder not found: ${root}`);
    const classBytes: Uint8Array[] = [];
    const entries = await readdir(rootBytes, { withFileTypes: true, encoding: 'buffer' }).catch((e: unknown) => {
      throw new ImageFolderError(`cannot list ${root}: ${(e as Error).message}`);
    });
    for (const e of entries) {
      const name = new Uint8Array(e.name);
      const isDir = e.isDirectory() || (e.isSymbolicLink() && (await dirKey(join(rootBytes, name))) !== null);
      if (isDir) classBytes.push(name);
    }
    classBytes.sort(comparePythonNames);
    if (!classBytes.length) {
      throw new ImageFolderError(
        `${root} has no class subfolders (expected ImageFolder layout: <dir>/<class>/<image>)`,
      );
    }
    const folderRel: Uint8Array[] = [];
    const folderClass: number[] = [];
    const names = new Grow(new Uint8Array(1 << 16), (n) => new Uint8Array(n));
    const nameEnd = new Grow(new Uint32Array(1 << 12), (n) => new Uint32Array(n));
    const fileFolder = new Grow(new Uint32Array(1 << 12), (n) => new Uint32Array(n));
    const empty: string[] = [];
    for (const [target, c] of classBytes.entries()) {
      // One visited set per class, as torchvision walks each class on its own; the root is
      // in it so a link back up (c0/a -> ..) does not pull the other classes in.
      const classKey = await dirKey(join(rootBytes, c));
      const visited = new Set([rootKey, ...(classKey ? [classKey] : [])]);
      const before = nameEnd.length;
      for (const f of await walkClass(rootBytes, c, visited)) {
        const folder = folderRel.length;
        folderRel.push(f.rel);
        folderClass.push(target);
        for (const n of f.names) {
          names.append(n);
          if (names.length > 0xffffffff) {
            throw new ImageFolderError(`${root}: file names exceed 4 GiB, too many files for one index`);
          }
          nameEnd.push(names.length);
          fileFolder.push(folder);
        }
      }
      if (nameEnd.length === before) empty.push(utf8.decode(c));
    }
    // As torchvision's ImageFolder: an empty class folder means a broken or mislabelled dataset.
    if (empty.length) {
      const list = empty.slice(0, 3).join(', ') + (empty.length > 3 ? `, ... (${empty.length} in all)` : '');
      const folders = `class folder${empty.length > 1 ? 's' : ''}`;
      throw new ImageFolderError(`${root}: no images in ${folders} ${list} (extensions: ${IMG_EXTENSIONS.join(' ')})`);
    }
    return new ImageFolderIndex(
      root,
      classBytes.map((c) => utf8.decode(c)),
      rootBytes,
      folderRel,
      Int32Array.from(folderClass),
      names.trimmed(),
      nameEnd.trimmed(),
      fileFolder.trimmed(),
    );
  }
}

/** An ImageFolder as plain objects: class names and (file, class index) samples. For small folders and tests. */
export interface ImageFolder {
  classes: string[];
  samples: { file: string; target: number }[];
}

/** Lists an ImageFolder as {@link ImageFolderIndex.read} does, as an array of samples (small folders only). */
export async function readImageFolder(root: string): Promise<ImageFolder> {
  const index = await ImageFolderIndex.read(root);
  const samples = Array.from({ length: index.length }, (_, i) => ({ file: index.path(i), target: index.label(i) }));
  return { classes: [...index.classes], samples };
}

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

/**
 * Folder names timm's dataset factory accepts for each split, in the order tried: the
 * split's own name first (train.py asks for `train` and `validation`), then its synonyms.
 */
export const SPLIT_FOLDER_NAMES = {
  train: ['train', 'training'],
  val: ['validation', 'val', 'valid', 'eval', 'evaluation'],
} as const;

/**
 * The folder of a split under a dataset root (`<root>/train`, `<root>/val`, ...), or an error naming what was looked
 * for.
 */
export async function findSplitFolder(root: string, split: keyof typeof SPLIT_FOLDER_NAMES): Promise<string> {
  if (!(await isDir(root))) throw new ImageFolderError(`dataset folder not found: ${root}`);
  for (const name of SPLIT_FOLDER_NAMES[split]) {
    const p = path.join(root, name);
    if (await isDir(p)) return p;
  }
  const names = SPLIT_FOLDER_NAMES[split].map((n) => `${n}/`).join(', ');
  throw new ImageFolderError(
    `${root} has no ${split === 'train' ? 'training' : 'validation'} folder (looked for ${names}; expected ` +
      '<root>/train/<class>/<image> and <root>/val/<class>/<image>)',
  );
}
