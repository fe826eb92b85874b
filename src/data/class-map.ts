/**
 * Which classifier output an ImageFolder class folder stands for. torchvision numbers the
 * folders in sorted order, which is right only when the folders are exactly the classes
 * the model was trained on; real validation sets are often not:
 * - ImageNet subsets (Imagenette, Imagewoof) keep ImageNet's wnid folder names;
 * - ImageNet-V2 names its folders "0".."999", which sort as "0", "1", "10", "100", ...;
 * - a model trained here records its class folder names in its checkpoint's args;
 * - timm's `--class-map <file>` names the folder of class i on line i.
 * Each of these maps a folder to its index (a subset is fine); a folder that cannot be
 * mapped is one clear error. Top-1 stays the argmax over all outputs (timm without
 * `--valid-labels`).
 */
import path from 'node:path';
import { ImageFolderError } from './image-folder.js';
import { IMAGENET_WNIDS } from './imagenet-wnids.js';

/** How folders were matched to outputs. */
export type ClassMappingSource = 'class-map' | 'checkpoint' | 'imagenet-wnid' | 'numeric' | 'sorted';

/** The output index of each class folder (in the folder index's class order) and how it was found. */
export interface ClassMapping {
  targets: Int32Array;
  source: ClassMappingSource;
}

/** What may name the classes besides the folders themselves. */
export interface ClassNames {
  /** `--class-map` lines (line i names class i) and the file, for messages. */
  classMap?: { names: readonly string[]; file: string };
  /** Class names a checkpoint recorded (args.class_names), index order. */
  checkpoint?: readonly string[];
}

/**
 * Reads a class map as timm's `load_class_map` does: `.txt` only, line i (stripped) names
 * the folder of class i. Names given twice are refused instead of letting the last win.
 */
export function parseClassMap(text: string, file: string): string[] {
  if (path.extname(file).toLowerCase() !== '.txt') {
    throw new ImageFolderError(
      `class map ${file}: only .txt class maps are read (line i = folder of class i), as timm's`,
    );
  }
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop(); // the final newline ends the last line, it does not add one
  const names = lines.map((l) => l.trim());
  const seen = new Map<string, number>();
  names.forEach((n, i) => {
    if (n !== '' && seen.has(n)) {
      throw new ImageFolderError(`class map ${file}: lines ${seen.get(n)! + 1} and ${i + 1} both name '${n}'`);
    }
    seen.set(n, i);
  });
  if (!names.some((n) => n !== '')) throw new ImageFolderError(`class map ${file} names no classes`);
  return names;
}

const plural = (n: number, one: string, many: string): string => (n > 1 ? many : one);
const listed = (names: readonly string[]): string =>
  names
    .slice(0, 3)
    .map((n) => `'${n}'`)
    .join(', ') + (names.length > 3 ? `, ... (${names.length} in all)` : '');

const WNID = /^n\d{8}$/;
const NUMBER = /^\d+$/;

/** Maps each folder through a name list (index = class); names missing from it are one error. */
function byNames(folders: readonly string[], names: readonly string[], numClasses: number, what: string): Int32Array {
  const index = new Map(names.map((n, i) => [n, i]));
  const unknown = folders.filter((f) => !index.has(f));
  if (unknown.length) {
    const n = unknown.length;
    throw new ImageFolderError(
      `class folder${plural(n, '', 's')} ${listed(unknown)} ${plural(n, 'is', 'are')} not in ${what}`,
    );
  }
  const targets = Int32Array.from(folders, (f) => index.get(f)!);
  const over = folders.filter((_, k) => targets[k]! >= numClasses);
  if (over.length) {
    const n = over.length;
    throw new ImageFolderError(
      `class folder${plural(n, '', 's')} ${listed(over)} map${plural(n, 's', '')} past the ${numClasses} outputs ` +
        `of the classifier (${what})`,
    );
  }
  return targets;
}

/**
 * The output index of each folder of `dir` for a classifier with `numClasses` outputs,
 * in this order of precedence: `--class-map`, the checkpoint's class names, ImageNet wnids
 * (1000-output classifiers), numeric folder names (by number, never string order), and
 * last torchvision's sorted order when the folders are exactly as many as the outputs.
 * Throws {@link ImageFolderError} (one line) for any folder it cannot place; `model` names the classifier in it.
 */
export function mapClassFolders(
  dir: string,
  folders: readonly string[],
  numClasses: number,
  names: ClassNames = {},
  model = 'the classifier',
): ClassMapping {
  const known = (targets: Int32Array, source: ClassMappingSource): ClassMapping => ({ targets, source });
  if (names.classMap) {
    const what = `the class map ${names.classMap.file}`;
    return known(byNames(folders, names.classMap.names, numClasses, what), 'class-map');
  }
  if (names.checkpoint?.length === numClasses) {
    const what = `the ${numClasses} classes the checkpoint was trained on`;
    return known(byNames(folders, names.checkpoint, numClasses, what), 'checkpoint');
  }
  if (numClasses === IMAGENET_WNIDS.length && folders.some((f) => WNID.test(f))) {
    return known(byNames(folders, IMAGENET_WNIDS, numClasses, 'the 1000 ImageNet-1k wnids'), 'imagenet-wnid');
  }
  if (folders.every((f) => NUMBER.test(f))) {
    const targets = Int32Array.from(folders, Number);
    const over = folders.filter((_, k) => !(targets[k]! < numClasses));
    if (over.length) {
      const n = over.length;
      throw new ImageFolderError(
        `${dir}: numeric class folder${plural(n, '', 's')} ${listed(over)} ${plural(n, 'is', 'are')} ` +
          `not an output of a ${numClasses}-class classifier (numeric folders map by number)`,
      );
    }
    const byNumber = new Map<number, string>();
    folders.forEach((f, k) => {
      const other = byNumber.get(targets[k]!);
      if (other !== undefined) {
        throw new ImageFolderError(`${dir}: class folders '${other}' and '${f}' are the same number`);
      }
      byNumber.set(targets[k]!, f);
    });
    return known(targets, 'numeric');
  }
  if (folders.length !== numClasses) {
    throw new ImageFolderError(
      `${dir} has ${folders.length} class folders but ${model} has ${numClasses} outputs: ` +
        'name the folder of each class with --class-map <file.txt> (line i = class i), ' +
        'or use ImageNet wnid or numeric folder names',
    );
  }
  return known(
    Int32Array.from(folders, (_, k) => k),
    'sorted',
  );
}
