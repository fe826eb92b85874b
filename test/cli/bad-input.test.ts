/**
 * Checks docs/bad-input.md against the CLI: every row of its table is run (the CLI in a
 * folder of fixtures built here, or the API call the row names) and the exit code and the
 * complete stderr must equal the row. Every failing CLI run must be exactly one
 * `repghost: ...` line (after any `note:`/`warning:` lines) with no stack trace; with
 * `--verbose` the same line is followed by the stack.
 *
 * REPGHOST_UPDATE_DOCS=1 rewrites the table's exit and stderr columns from what the CLI
 * actually prints (for deliberate message changes) instead of failing.
 */
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPth } from '../../src/weights/pth.js';
import { detectForm } from '../../src/weights/match.js';
import { readSafetensors, writeSafetensors } from '../../src/weights/safetensors.js';
import { buildSpec } from '../../src/spec/model-spec.js';
import type { StateDict } from '../../src/weights/tensor.js';
import { writeZip } from '../../src/weights/zip.js';
import { repoRoot, sharedPath } from '../helpers/shared.js';
import {
  checkpointWith,
  dag,
  fakeTensorPth,
  float,
  hostileSafetensors,
  lyingIdxGz,
  sharedDictPickle,
  torchZip,
} from '../../fuzz/lib/hostile.js';

const DOC = path.join(repoRoot, 'docs', 'bad-input.md');
const START = '<!-- bad-input-table:start -->';
const END = '<!-- bad-input-table:end -->';
const UPDATE = process.env.REPGHOST_UPDATE_DOCS === '1';
const MAIN = path.join(repoRoot, 'src', 'cli', 'main.ts');
const TSX = pathToFileURL(path.join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

/** One row of the doc's table. */
interface Row {
  n: number;
  input: string;
  command: string;
  exit: string;
  stderr: string[];
}

/** Cells of a Markdown table line, splitting on unescaped pipes. */
function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

/** `code`<br>`code` -> lines (pipes unescaped). */
function codeLines(cell: string): string[] {
  if (cell === '') return [];
  return cell.split('<br>').map((part) => {
    const m = /^`(.*)`$/.exec(part.trim());
    if (!m) throw new Error(`docs/bad-input.md: stderr cell part is not a code span: ${part}`);
    return m[1]!.replace(/\\\|/g, '|');
  });
}

function toCell(lines: string[]): string {
  for (const l of lines) if (l.includes('`')) throw new Error(`cannot put a backtick into a table cell: ${l}`);
  return lines.map((l) => `\`${l.replace(/\|/g, '\\|')}\``).join('<br>');
}

function readTable(): { before: string; rows: Row[]; after: string } {
  const md = readFileSync(DOC, 'utf8');
  const [before, rest] = md.split(START);
  const [table, after] = rest!.split(END);
  const lines = table!.trim().split('\n').slice(2); // header and separator
  const rows = lines.map((line): Row => {
    const [n, input, command, exit, stderr] = cells(line);
    return {
      n: Number(n),
      input: input!,
      command: /^`(.*)`$/.exec(command!)![1]!,
      exit: exit!,
      stderr: codeLines(stderr!),
    };
  });
  return { before: before!, rows, after: after! };
}

function writeTable(rows: Row[]): void {
  const { before, after } = readTable();
  const head = '| # | bad input | command | exit | stderr |\n|---|---|---|---|---|';
  const body = rows
    .map((r) => `| ${r.n} | ${r.input} | \`${r.command}\` | ${r.exit} | ${toCell(r.stderr)} |`)
    .join('\n');
  writeFileSync(DOC, `${before}${START}\n${head}\n${body}\n${END}${after}`);
}

// ---------------------------------------------------------------------------------------
// Fixtures (described in the doc's "Fixtures" table)

let dir = '';

function buildFixtures(): void {
  dir = mkdtempSync(path.join(os.tmpdir(), 'repghost-bad-input-'));
  const at = (p: string): string => path.join(dir, p);
  const enc = new TextEncoder();
  const golden = (...p: string[]): Buffer => readFileSync(sharedPath('golden', ...p));
  const link = (name: string, ...p: string[]): void => symlinkSync(sharedPath('golden', ...p), at(name));
  copyFileSync(sharedPath('golden', 'preprocess', 'chelsea.png'), at('chelsea.png'));
  writeFileSync(at('page.html'), '<!DOCTYPE html><html><body>Sign in</body></html>\n');
  writeFileSync(at('notes.txt'), 'these are not weights\n');
  writeFileSync(at('config.json'), '{"model": "repghostnet_0_5x"}\n');
  writeFileSync(at('empty.pth'), '');
  writeFileSync(at('empty.png'), '');
  mkdirSync(at('weights.pth'));
  writeFileSync(at('truncated.pth'), golden('repghostnet_wo_0_5x', 'model.pth').subarray(0, 2_000_000));
  writeFileSync(
    at('truncated.safetensors'),
    golden('repghostnet_norep_0_5x', 'model.safetensors').subarray(0, 100_000),
  );
  writeFileSync(
    at('legacy.pth'),
    Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e),
  );
  writeFileSync(
    at('scripted.pt'),
    writeZip([
      { name: 'model/data.pkl', data: Uint8Array.of(0x80, 0x02, 0x4e, 0x2e) },
      { name: 'model/constants.pkl', data: Uint8Array.of(0x80, 0x02, 0x29, 0x2e) },
      { name: 'model/code/__torch__.py', data: enc.encode('class Model: pass\n') },
    ]),
  );
  const evil = Uint8Array.from([
    0x80,
    0x02,
    ...enc.encode('cposix\nsystem\n'),
    0x58,
    11,
    0,
    0,
    0,
    ...enc.encode('touch pwned'),
    0x85,
    0x52,
    0x2e,
  ]);
  writeFileSync(
    at('evil.pth'),
    writeZip([
      { name: 'archive/data.pkl', data: evil },
      { name: 'archive/version', data: enc.encode('3\n') },
    ]),
  );
  link('model_1_0x.pth', 'repghostnet_1_0x', 'model.pth');
  link('norep.safetensors', 'repghostnet_norep_0_5x', 'model.safetensors');
  link('deploy_0_5x.safetensors', 'repghostnet_0_5x', 'deploy.safetensors');
  link('checkpoint.pth', 'repghostnet_0_5x', 'checkpoint.pth');
  const sd: StateDict = readSafetensors(golden('repghostnet_norep_0_5x', 'model.safetensors')).tensors;
  sd.delete('classifier.bias');
  sd.set('extra.weight', { dtype: 'F32', shape: [2], data: Float32Array.of(1, 2) });
  writeFileSync(at('keys.safetensors'), writeSafetensors(sd));
  writeFileSync(at('broken.jpg'), golden('preprocess', 'rocket.jpg').subarray(0, 30_000));
  writeFileSync(at('fake.jpg'), 'not an image\n');
  const badcrc = readFileSync(at('chelsea.png'));
  badcrc[32]! ^= 0xff; // last byte of the IHDR CRC (8 signature + 4 length + 4 type + 13 data + 3)
  writeFileSync(at('badcrc.png'), badcrc);
  mkdirSync(at('ds-empty'));
  mkdirSync(at('ds-noimg/a'), { recursive: true });
  mkdirSync(at('ds-noimg/b'));
  writeFileSync(at('ds-noimg/a/notes.txt'), 'no images here\n');
  for (let c = 0; c < 10; c++) {
    mkdirSync(at(`ds-sparse/c${c}`), { recursive: true });
    mkdirSync(at(`ds-mixed/c${c}`), { recursive: true });
    copyFileSync(at('chelsea.png'), at(`ds-mixed/c${c}/chelsea.png`));
  }
  copyFileSync(at('chelsea.png'), at('ds-sparse/c0/chelsea.png'));
  writeFileSync(at('ds-mixed/c3/readme.jpg'), 'not an image\n');
  for (const c of ['a', 'b']) {
    mkdirSync(at(`ds-2/${c}`), { recursive: true });
    copyFileSync(at('chelsea.png'), at(`ds-2/${c}/chelsea.png`));
  }
  // ImageFolder training roots: one without a validation folder, one with 2 classes.
  mkdirSync(at('if-noval/train/a'), { recursive: true });
  copyFileSync(at('chelsea.png'), at('if-noval/train/a/chelsea.png'));
  for (const split of ['train', 'val']) {
    for (const c of ['a', 'b']) {
      mkdirSync(at(`if-2/${split}/${c}`), { recursive: true });
      copyFileSync(at('chelsea.png'), at(`if-2/${split}/${c}/chelsea.png`));
    }
  }
  mkdirSync(at('fm-empty'));
  // Fashion-MNIST folders with the real files except train-images, which the trainer reads first.
  const fm = process.env.REPGHOST_FASHION_MNIST ?? '/usr/share/datasets/fashion-mnist';
  for (const d of ['fm-bad', 'fm-trunc']) {
    mkdirSync(at(d));
    for (const f of ['train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'])
      symlinkSync(path.join(fm, f), at(`${d}/${f}`));
  }
  writeFileSync(at('fm-bad/train-images-idx3-ubyte.gz'), 'hello');
  writeFileSync(
    at('fm-trunc/train-images-idx3-ubyte.gz'),
    readFileSync(path.join(fm, 'train-images-idx3-ubyte.gz')).subarray(0, 100_000),
  );
  buildHostileFixtures(at, fm);
}

/** Fixtures of the issue #14 rows: hostile structures from fuzz/lib/hostile.ts, links, FIFOs. */
function buildHostileFixtures(at: (p: string) => string, fm: string): void {
  writeFileSync(at('fake-tensor.pth'), fakeTensorPth('u8', 216, true));
  writeFileSync(at('shared-refs.pth'), torchZip(sharedDictPickle(45_000, 45_000)));
  symlinkSync('.', at('same'));
  mkdirSync(at('rep-link'));
  writeFileSync(
    at('rep-link/summary.csv'),
    'epoch,train_loss,eval_loss,eval_top1,eval_top5,eval_top1_ema,lr,seconds,images_per_s\n' +
      '0,2.0,1.5,40,90,,0.1,10,100\n',
  );
  symlinkSync('summary.csv', at('rep-link/report.html'));
  writeFileSync(
    at('svg.jpg'),
    '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><image href="chelsea.png" width="8" ' +
      'height="8"/></svg>\n',
  );
  writeFileSync(at('vips.png'), Uint8Array.from([0x08, 0xf2, 0xa6, 0xb6, ...new Uint8Array(64)]));
  writeFileSync(at('dag-arch.pth.tar'), checkpointWith('arch', dag(60)));
  writeFileSync(at('neg-epoch.pth.tar'), checkpointWith('epoch', float(-1e6)));
  writeFileSync(at('nan-epoch.pth.tar'), checkpointWith('epoch', float(NaN)));
  const norep = (): StateDict =>
    readSafetensors(new Uint8Array(readFileSync(sharedPath('golden', 'repghostnet_norep_0_5x', 'model.safetensors'))))
      .tensors;
  const nan = norep();
  (nan.get('conv_stem.weight')!.data as Float32Array)[5] = NaN;
  writeFileSync(at('nan.safetensors'), writeSafetensors(nan));
  const negvar = norep();
  (negvar.get('bn1.running_var')!.data as Float32Array)[2] = -0.5;
  writeFileSync(at('negvar.safetensors'), writeSafetensors(negvar));
  writeFileSync(at('dup-key.safetensors'), hostileSafetensors('duplicate-key', 1));
  writeFileSync(at('overlap.safetensors'), hostileSafetensors('overlap', 1));
  writeFileSync(at('empty-objects.safetensors'), hostileSafetensors('empty-objects', 1_000_000));
  const long = norep();
  long.set('k'.repeat(5_000_000), { dtype: 'F32', shape: [1], data: Float32Array.of(0) });
  writeFileSync(at('long-key.safetensors'), writeSafetensors(long));
  execFileSync('mkfifo', [at('weights.fifo')]);
  mkdirSync(at('fm-lying'));
  mkdirSync(at('fm-tiny'));
  for (const f of ['train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'])
    symlinkSync(path.join(fm, f), at(`fm-lying/${f}`));
  writeFileSync(at('fm-lying/train-images-idx3-ubyte.gz'), lyingIdxGz([2 ** 32 - 1, 28, 28], 1 << 20));
  const idx = (dims: number[]): Uint8Array => {
    const n = dims.reduce((x, y) => x * y, 1);
    const b = new Uint8Array(4 + 4 * dims.length + n);
    b.set([0, 0, 8, dims.length]);
    dims.forEach((d, i) => new DataView(b.buffer).setUint32(4 + 4 * i, d, false));
    return b;
  };
  for (const split of ['train', 't10k']) {
    writeFileSync(at(`fm-tiny/${split}-images-idx3-ubyte`), idx([5, 1, 1]));
    writeFileSync(at(`fm-tiny/${split}-labels-idx1-ubyte`), idx([5]));
  }
}

/** A grey 1x250,000 PNG (made before the rows run: sharp is asynchronous). */
async function buildTallPng(): Promise<void> {
  const { default: sharp } = await import('sharp');
  const png = await sharp(Buffer.alloc(250_000 * 3, 128), { raw: { width: 1, height: 250_000, channels: 3 } })
    .png()
    .toBuffer();
  writeFileSync(path.join(dir, 'tall.png'), png);
}

// ---------------------------------------------------------------------------------------
// Running rows

interface Outcome {
  exit: string;
  stderr: string[];
}

/** Runs `repghost <args>` in the fixtures folder. */
function cli(args: string[]): Promise<Outcome & { raw: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', TSX, MAIN, ...args],
      {
        cwd: dir,
        encoding: 'utf8',
        timeout: 180_000,
        maxBuffer: 16 * 2 ** 20,
        env: { ...process.env, REPGHOST_VERBOSE: '', NO_COLOR: '1', FORCE_COLOR: '0' },
      },
      (err, _stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : `signal ${err.signal}`) : 0;
        resolve({
          exit: String(code),
          stderr: stderr
            .replace(/\s+$/, '')
            .split('\n')
            .filter((l) => l !== ''),
          raw: stderr,
        });
      },
    );
  });
}

/** The API rows, by their command text. */
const API: Record<string, () => unknown> = {
  "API: detectForm(buildSpec('repghostnet_0_5x'), readPth(checkpoint.pth))": () =>
    detectForm(
      buildSpec('repghostnet_0_5x'),
      readPth(new Uint8Array(readFileSync(path.join(dir, 'checkpoint.pth')))) as StateDict,
    ),
};

async function runRow(row: Row): Promise<Outcome> {
  if (row.command.startsWith('API: ')) {
    const f = API[row.command];
    if (!f) throw new Error(`no API implementation for row ${row.n}: ${row.command}`);
    try {
      f();
      return { exit: 'returns', stderr: [] };
    } catch (e) {
      return { exit: 'throws', stderr: [`${(e as Error).name}: ${(e as Error).message}`] };
    }
  }
  if (!row.command.startsWith('repghost '))
    throw new Error(`row ${row.n}: a command starts with "repghost " or "API: "`);
  return cli(row.command.slice('repghost '.length).split(/\s+/));
}

const { rows } = readTable();
const actual = new Map<number, Outcome>();

beforeAll(async () => {
  buildFixtures();
  await buildTallPng();
});
afterAll(() => {
  if (UPDATE && actual.size === rows.length) writeTable(rows.map((r) => ({ ...r, ...actual.get(r.n)! })));
  rmSync(dir, { recursive: true, force: true });
});

describe('docs/bad-input.md', () => {
  it('has a table of numbered rows', () => {
    expect(rows.length).toBeGreaterThanOrEqual(30);
    expect(rows.map((r) => r.n)).toEqual(rows.map((_, i) => i + 1));
  });

  describe.concurrent('each row gets exactly the documented exit code and stderr', () => {
    for (const row of rows) {
      it(`${row.n}. ${row.input}`, async () => {
        const got = await runRow(row);
        actual.set(row.n, got);
        if (UPDATE) return;
        expect({ exit: got.exit, stderr: got.stderr }).toEqual({ exit: row.exit, stderr: row.stderr });
        if (row.command.startsWith('repghost ')) {
          // Never a stack trace without --verbose.
          expect(got.stderr.some((l) => /^\s+at /.test(l))).toBe(false);
          if (got.exit !== '0' && got.stderr.at(-1)?.startsWith('repghost: ')) {
            // Failures by repghost itself: one error line, only notes or warnings before it.
            expect(got.stderr.slice(0, -1).every((l) => /^(note|warning): /.test(l))).toBe(true);
          }
        }
      }, 240_000);
    }
  });

  describe.skipIf(UPDATE).concurrent('--verbose adds the stack trace after the same line', () => {
    // One failing row per command is enough to see the wiring.
    const seen = new Set<string>();
    const picks = rows.filter((r) => {
      const cmd = r.command.split(' ')[1] ?? '';
      const repghostError = r.stderr.at(-1)?.startsWith('repghost: ') && r.exit !== '0';
      if (!r.command.startsWith('repghost ') || !repghostError || seen.has(cmd)) return false;
      seen.add(cmd);
      return true;
    });
    for (const row of picks) {
      it(`${row.n}. ${row.command} --verbose`, async () => {
        const got = await cli([...row.command.slice('repghost '.length).split(/\s+/), '--verbose']);
        expect(got.exit).toBe(row.exit);
        const i = got.stderr.indexOf(row.stderr.at(-1)!);
        expect(i, got.raw).toBeGreaterThanOrEqual(0);
        const stack = got.stderr.slice(i + 1);
        expect(stack.length, got.raw).toBeGreaterThan(1);
        expect(
          stack.slice(1).every((l) => /^\s+at /.test(l)),
          got.raw,
        ).toBe(true);
      }, 240_000);
    }
  });
});
