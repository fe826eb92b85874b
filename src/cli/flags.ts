/**
 * Every flag the commands share, and the bridge from an option table (the trainer's
 * TRAIN_OPTION_TABLE) to commander: flags, help with defaults, parsing and checking, so a
 * table row is the only place an option is declared. Value errors are UsageErrors that
 * name the flag (exit 2).
 */
import { Option, type Command } from 'commander';
import type { Interpolation, PreprocessConfig } from '../data/preprocess.js';
import type { OptionKind, OptionRow } from '../train/options.js';
import { UsageError } from './errors.js';

/** Upper bounds that keep a typo from asking for minutes of work or gigabytes of memory. */
/** Most inference/training threads a flag may ask for (#14: `--threads 1000` took 30 s for one image). */
export const MAX_THREADS = 64;
/** Largest square input side (3 x 2048 x 2048 float32 is 48 MiB per image; `--size 30000` allocated 3 GB). */
export const MAX_IMAGE_SIZE = 2048;

/**
 * Parses an integer flag value in [min, max] or throws a UsageError naming the flag; the
 * upper bound is named only to a value above it, so the common message stays short.
 */
export function intFlag(flag: string, min = 1, max = Number.MAX_SAFE_INTEGER) {
  const what = min === 1 ? 'a positive integer' : min === 0 ? 'a non-negative integer' : `an integer >= ${min}`;
  return (v: string): number => {
    const n = Number(v);
    if (Number.isInteger(n) && n > max)
      throw new UsageError(`${flag} takes an integer from ${min} to ${max}, got '${v}'`);
    if (!Number.isInteger(n) || n < min || v.trim() === '') throw new UsageError(`${flag} takes ${what}, got '${v}'`);
    return n;
  };
}

/** One of a fixed set of names (commander's own choices() error is not a one-line UsageError). */
export function choiceFlag(flag: string, choices: readonly string[]) {
  return (v: string): string => {
    if (!choices.includes(v)) throw new UsageError(`${flag} must be one of ${choices.join(', ')}, got '${v}'`);
    return v;
  };
}

/** Parses a number flag value in [min, max] ((min, max] with `above`). */
export function numberFlag(flag: string, min = -Infinity, max = Infinity, above = false) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (above ? n <= min : n < min) || n > max) {
      throw new UsageError(`${flag} takes a number in ${above ? '(' : '['}${min}, ${max}], got '${v}'`);
    }
    return n;
  };
}

/** The long flag's name without dashes and placeholder: `--batch-size <n>` -> `batch-size`. */
const flagName = (flag: string): string => flag.replace(/^--/, '').split(' ')[0]!;
/** commander's attribute for a long flag: `--batch-size` -> `batchSize`. */
const attribute = (flag: string): string => flagName(flag).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
/** `--batch-size` for messages. */
export const longFlag = (row: { flag: string }): string => `--${flagName(row.flag)}`;

/** A variadic value that must be two numbers lo <= hi within the kind's bounds. */
function pair(flag: string, values: readonly string[], kind: Extract<OptionKind, { type: 'pair' }>): [number, number] {
  const nums = values.map(Number);
  const max = kind.max ?? Infinity;
  const inRange = (n: number): boolean =>
    Number.isFinite(n) && (kind.above ? n > kind.min : n >= kind.min) && (kind.below ? n < max : n <= max);
  if (nums.length !== 2 || !nums.every(inRange) || nums[0]! > nums[1]!) {
    const got = `got '${values.join(' ')}'`;
    if (kind.below && !kind.above) throw new UsageError(`${flag} takes two numbers in [${kind.min}, ${max}), ${got}`);
    const lo = kind.above ? '<' : '<=';
    const hi = kind.below ? '<' : '<=';
    throw new UsageError(`${flag} takes two numbers lo hi with ${kind.min} ${lo} lo <= hi ${hi} ${max}, ${got}`);
  }
  return [nums[0]!, nums[1]!];
}

/** `N` or timm's `3 N N` (square RGB input). */
function imageSize(flag: string, values: readonly string[]): number {
  const v = values.map(Number);
  const ok = (n: number): boolean => Number.isInteger(n) && n > 0 && n <= MAX_IMAGE_SIZE;
  if (v.length === 1 && ok(v[0]!)) return v[0]!;
  if (v.length === 3 && v[0] === 3 && ok(v[1]!) && v[1] === v[2]) return v[1]!;
  throw new UsageError(
    `${flag} takes N or 3 N N (square RGB input, N <= ${MAX_IMAGE_SIZE}), got '${values.join(' ')}'`,
  );
}

function describeDefault(row: OptionRow<unknown>): string {
  if (row.required) return ' (required)';
  if (row.defaultText) return ` (default: ${row.defaultText})`;
  if (row.default === undefined || row.default === null || row.kind.type === 'flag') return '';
  return ` (default: ${defaultValueText(row.default)})`;
}

/** A default as help shows it: lists space-separated, objects as JSON (never `[object Object]`). */
function defaultValueText(v: unknown): string {
  if (Array.isArray(v)) return v.map(defaultValueText).join(' ');
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint')
    return String(v);
  return JSON.stringify(v);
}

/**
 * Declares a table's rows on a command. No commander defaults are set, so an absent
 * value reads as undefined and {@link readTableOptions} can tell given from default.
 */
export function addTableOptions(cmd: Command, table: Readonly<Record<string, OptionRow<unknown>>>): Command {
  for (const row of Object.values(table)) {
    const flags = row.short ? `${row.short}, ${row.flag}` : row.flag;
    const option = new Option(flags, `${row.imagefolderOnly ? 'imagefolder: ' : ''}${row.help}${describeDefault(row)}`);
    const name = longFlag(row);
    const kind = row.kind;
    if (kind.type === 'int') option.argParser(intFlag(name, kind.min, kind.max));
    else if (kind.type === 'number') option.argParser(numberFlag(name, kind.min, kind.max, kind.above));
    else if (kind.type === 'choice') option.argParser(choiceFlag(name, kind.choices));
    cmd.addOption(option);
    if (kind.type === 'flag' && row.default === true) cmd.option(`--no-${flagName(row.flag)}`, `turn ${name} off`);
    if (kind.type === 'image-size')
      cmd.option('--img-size <n>', `same as ${name} N`, intFlag('--img-size', 1, MAX_IMAGE_SIZE));
  }
  return cmd;
}

/** The values the user gave for a table's rows (absent ones left out), parsed and checked. */
export function readTableOptions<T>(
  flags: Record<string, unknown>,
  table: Readonly<Record<string, OptionRow<unknown>>>,
): Partial<T> {
  const out: Record<string, unknown> = {};
  for (const [key, row] of Object.entries(table)) {
    const raw = flags[attribute(row.flag)];
    const name = longFlag(row);
    let value: unknown = raw;
    if (row.kind.type === 'pair' && raw !== undefined) value = pair(name, raw as string[], row.kind);
    if (row.kind.type === 'image-size') {
      const fromInput = raw === undefined ? undefined : imageSize(name, raw as string[]);
      const fromImg = flags.imgSize as number | undefined;
      if (fromInput !== undefined && fromImg !== undefined && fromInput !== fromImg) {
        throw new UsageError(`${name} ${fromInput} and --img-size ${fromImg} disagree`);
      }
      value = fromInput ?? fromImg;
    }
    if (value === undefined && row.required) throw new UsageError(`required option '${row.flag}' not specified`);
    if (value !== undefined) out[key] = value;
  }
  return out as Partial<T>;
}

/** The table rows the user gave, as their long flags (`--scale`), for messages. */
export function givenFlags(given: object, table: Readonly<Record<string, OptionRow<unknown>>>): Map<string, string> {
  return new Map(
    Object.keys(given)
      .filter((k) => k in table)
      .map((k) => [k, longFlag(table[k]!)]),
  );
}

// --- Shared inference flags: predict, validate, export, convert, preprocess ---------------------------

/** Values of the pretrained flags. */
export interface PretrainedFlags {
  pretrained?: boolean;
  source?: 'hf' | 'official';
  model?: string;
  ema?: boolean;
}

/** Adds --pretrained and --source to a command. */
export function addPretrainedOptions(cmd: Command): Command {
  return cmd
    .option(
      '--pretrained',
      'use the published ImageNet weights of --model (downloaded once into the cache; see `repghost download ' +
        '--list`) instead of a weights file',
    )
    .addOption(
      new Option(
        '--source <hub>',
        'where --pretrained downloads from: hf (timm on the Hugging Face hub, EMA weights) or official (the ' +
          'GitHub release .pth.tar, EMA selected)',
      ).choices(['hf', 'official']),
    );
}

/** Adds --model and --ema, the flags of every command that reads a checkpoint. */
export function addCheckpointOptions(
  cmd: Command,
  emaHelp = 'use the EMA weights (state_dict_ema) of a training checkpoint',
): Command {
  return cmd
    .option('--model <name>', "model name (default: the checkpoint's arch, else the model its keys fit)")
    .option('--ema', emaHelp);
}

/** Values of the model flags. */
export interface ModelFlags extends PretrainedFlags {
  weights?: string;
  threads?: number;
  labels?: string;
}

/** Adds --weights (or --pretrained/--source), --model, --ema, --threads and --labels to a command. */
export function addModelOptions(cmd: Command): Command {
  addPretrainedOptions(cmd).option(
    '--weights <file>',
    'checkpoint: .pth / .pth.tar (state dict or timm training checkpoint) or .safetensors, training or deploy form',
  );
  return addCheckpointOptions(cmd)
    .option('--threads <n>', 'CPU threads per inference (default: all cores)', intFlag('--threads', 1, MAX_THREADS))
    .option(
      '--labels <file>',
      'class names, one per line or a JSON array (default: ImageNet-1k names for 1000 classes)',
    );
}

/** Values of the preprocessing flags. */
export interface PreprocessFlags {
  interpolation: Interpolation;
  cropPct: number;
  size: number;
}

/**
 * Adds --interpolation, --crop-pct and --size to a command. `defaultInterpolation`
 * differs by command: validate reproduces the official evaluation (bilinear), the rest
 * follow timm's declared bicubic.
 */
export function addPreprocessOptions(cmd: Command, defaultInterpolation: Interpolation): Command {
  return cmd
    .addOption(
      new Option('--interpolation <filter>', 'resize filter (PIL-exact)')
        .choices(['bilinear', 'bicubic'])
        .default(defaultInterpolation),
    )
    .option(
      '--crop-pct <f>',
      'center-crop fraction: the shorter side is resized to floor(size / crop-pct)',
      numberFlag('--crop-pct', 0, 1, true),
      0.875,
    )
    .option('--size <n>', 'square crop side fed to the model', intFlag('--size', 1, MAX_IMAGE_SIZE), 224);
}

/** The PreprocessConfig the flags describe. */
export function preprocessConfigFrom(flags: PreprocessFlags): PreprocessConfig {
  return { interpolation: flags.interpolation, cropPct: flags.cropPct, size: flags.size };
}
