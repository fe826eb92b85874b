/**
 * ImageFolder datasets (Node only: reads folders): `<root>/<class>/<image>`, indexed
 * exactly as torchvision's `ImageFolder` does (classes = sorted folder names, samples in
 * sorted os.walk order), and timm's train/validation split folders of a dataset root.
 * Used by `repghost validate` and by ImageFolder training.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/** torchvision's IMG_EXTENSIONS: what ImageFolder picks up (case-insensitive). */
export const IMG_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif', '.tiff', '.webp'];

/** An ImageFolder: class names (folder names, sorted) and (file, class index) samples. */
export interface ImageFolder { classes: string[]; samples: { file: string; target: number }[] }

/**
 * A dataset folder whose layout is wrong (missing, no class folders, empty classes):
 * a mistake in what the user pointed at, reported as one line (the CLI exits with 2).
 */
export class ImageFolderError extends Error {
  override name = 'ImageFolderError';
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

async function isDir(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

/** Every file under `dir` (symlinks followed), in torchvision's order: sorted(os.walk), then sorted file names. */
async function walkFiles(dir: string): Promise<string[]> {
  const groups: [string, string[]][] = [];
  const visit = async (d: string): Promise<void> => {
    const files: string[] = [];
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory() || (e.isSymbolicLink() && (await isDir(p)))) await visit(p);
      else files.push(e.name);
    }
    groups.push([d, files.sort(byCodeUnit)]);
  };
  await visit(dir);
  groups.sort((a, b) => byCodeUnit(a[0], b[0]));
  return groups.flatMap(([d, files]) => files.map((f) => path.join(d, f)));
}

/** Lists an ImageFolder exactly as torchvision's `ImageFolder` indexes it. */
export async function readImageFolder(root: string): Promise<ImageFolder> {
  if (!(await isDir(root))) throw new ImageFolderError(`dataset folder not found: ${root}`);
  const classes: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true })) {
    if (e.isDirectory() || (e.isSymbolicLink() && (await isDir(path.join(root, e.name))))) classes.push(e.name);
  }
  classes.sort(byCodeUnit);
  if (!classes.length) throw new ImageFolderError(`${root} has no class subfolders (expected ImageFolder layout: <dir>/<class>/<image>)`);
  const samples: ImageFolder['samples'] = [];
  const empty: string[] = [];
  for (const [target, c] of classes.entries()) {
    const before = samples.length;
    for (const file of await walkFiles(path.join(root, c))) {
      if (IMG_EXTENSIONS.includes(path.extname(file).toLowerCase())) samples.push({ file, target });
    }
    if (samples.length === before) empty.push(c);
  }
  // As torchvision's ImageFolder: an empty class folder means a broken or mislabelled dataset.
  if (empty.length) {
    const names = empty.slice(0, 3).join(', ') + (empty.length > 3 ? `, ... (${empty.length} in all)` : '');
    throw new ImageFolderError(`${root}: no images in class folder${empty.length > 1 ? 's' : ''} ${names} (extensions: ${IMG_EXTENSIONS.join(' ')})`);
  }
  return { classes, samples };
}

/**
 * Folder names timm's dataset factory accepts for each split, in the order tried: the
 * split's own name first (train.py asks for `train` and `validation`), then its synonyms.
 */
export const SPLIT_FOLDER_NAMES = {
  train: ['train', 'training'],
  val: ['validation', 'val', 'valid', 'eval', 'evaluation'],
} as const;

/** The folder of a split under a dataset root (`<root>/train`, `<root>/val`, ...), or an error naming what was looked for. */
export async function findSplitFolder(root: string, split: keyof typeof SPLIT_FOLDER_NAMES): Promise<string> {
  if (!(await isDir(root))) throw new ImageFolderError(`dataset folder not found: ${root}`);
  for (const name of SPLIT_FOLDER_NAMES[split]) {
    const p = path.join(root, name);
    if (await isDir(p)) return p;
  }
  const names = SPLIT_FOLDER_NAMES[split].map((n) => `${n}/`).join(', ');
  throw new ImageFolderError(`${root} has no ${split === 'train' ? 'training' : 'validation'} folder (looked for ${names}; expected <root>/train/<class>/<image> and <root>/val/<class>/<image>)`);
}
