/**
 * Issue #14, files and paths: output guards by real path / (dev, inode), writes that never
 * follow a planted link, the image format allow-list, decompression and resize bounds,
 * non-regular inputs and the dataset's own size rules. Every input is generated here.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImageFile, sniffImageFormat } from '../../src/node/decode.js';
import { loadFashionMnistSplit } from '../../src/data/fashion-mnist.js';
import { IdxError, readIdx } from '../../src/data/idx.js';
import { preprocess } from '../../src/data/preprocess.js';
import { writeFileAtomic, writeFileAtomicSync } from '../../src/node/atomic-write.js';
import { clobberedInput, insideFolder, sameFile } from '../../src/node/output-guard.js';
import { readInputFile, readInputFileSync } from '../../src/node/read-input.js';
import { writeReport } from '../../src/train/report.js';
import { lyingIdxGz } from '../../fuzz/lib/hostile.js';
import { runCli } from '../helpers/cli.js';
import { repoRoot } from '../helpers/shared.js';

let dir = '';
const at = (...p: string[]): string => path.join(dir, ...p);

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'repghost-hostile-files-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('finding 3: an output is compared with the inputs by real path and (dev, inode)', () => {
  it('sees through a link to the folder, /proc/self/cwd, hard links and links to the file', () => {
    writeFileSync(at('ck.pth'), 'weights');
    symlinkSync('.', at('same'));
    linkSync(at('ck.pth'), at('hard.pth'));
    symlinkSync('ck.pth', at('link.pth'));
    expect(sameFile(at('ck.pth'), at('same', 'ck.pth'))).toBe(true);
    expect(sameFile(at('ck.pth'), at('same', 'same', 'ck.pth'))).toBe(true);
    expect(sameFile(at('ck.pth'), at('hard.pth'))).toBe(true);
    expect(sameFile(at('ck.pth'), at('link.pth'))).toBe(true);
    expect(sameFile(at('ck.pth'), at('other.pth'))).toBe(false);
    expect(sameFile(at('new.pth'), at('same', 'new.pth'))).toBe(true); // neither exists yet
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      expect(sameFile('ck.pth', '/proc/self/cwd/ck.pth')).toBe(true);
    } finally {
      process.chdir(cwd);
    }
    expect(clobberedInput(at('same', 'ck.pth'), [undefined, at('x'), at('ck.pth')])).toBe(at('ck.pth'));
    expect(insideFolder(at('same', 'sub', 'a.json'), dir)).toBe(true);
    expect(insideFolder(path.join(os.tmpdir(), 'elsewhere.json'), dir)).toBe(false);
  });
});

describe('finding 4: writes never follow a link planted at the target or the temp name', () => {
  it('writeFileAtomic replaces a link to a victim (and a dangling link) instead of writing through it', async () => {
    mkdirSync(at('w'));
    writeFileSync(at('victim.txt'), 'precious');
    symlinkSync('../victim.txt', at('w', 'out.bin'));
    symlinkSync('../outside.bin', at('w', 'dangling.bin'));
    await writeFileAtomic(at('w', 'out.bin'), Uint8Array.of(1, 2));
    writeFileAtomicSync(at('w', 'dangling.bin'), Uint8Array.of(3));
    expect(readFileSync(at('victim.txt'), 'utf8')).toBe('precious');
    expect(existsSync(at('outside.bin'))).toBe(false);
    expect([...readFileSync(at('w', 'out.bin'))]).toEqual([1, 2]);
  });

  it('report replaces planted report.html and loss.png links, and refuses a link to its own summary', async () => {
    mkdirSync(at('rep'));
    const csv =
      'epoch,train_loss,eval_loss,eval_top1,eval_top5,eval_top1_ema,lr,seconds,images_per_s\n' +
      '0,2.0,1.5,40,90,,0.1,10,100\n';
    writeFileSync(at('rep', 'summary.csv'), csv);
    writeFileSync(at('victim2.txt'), 'precious');
    symlinkSync('../victim2.txt', at('rep', 'report.html'));
    symlinkSync('../escaped.png', at('rep', 'loss.png'));
    const files = await writeReport(at('rep'));
    expect(files).toHaveLength(4);
    expect(readFileSync(at('victim2.txt'), 'utf8')).toBe('precious');
    expect(existsSync(at('escaped.png'))).toBe(false);
    rmSync(at('rep', 'top1.png'));
    symlinkSync('summary.csv', at('rep', 'top1.png'));
    await expect(writeReport(at('rep'))).rejects.toThrow(/top1\.png is the training summary itself/);
    expect(readFileSync(at('rep', 'summary.csv'), 'utf8')).toBe(csv);
  });
});

describe('finding 5: only JPEG, PNG, WebP, GIF, TIFF and AVIF reach the decoder', () => {
  it('an SVG named .jpg is refused before decoding (it could read a sibling file or burn CPU)', async () => {
    writeFileSync(
      at('secret.png'),
      await sharp({ create: { width: 4, height: 4, channels: 3, background: '#f00' } })
        .png()
        .toBuffer(),
    );
    writeFileSync(
      at('svg.jpg'),
      '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><image href="secret.png" width="8" ' +
        'height="8"/></svg>',
    );
    await expect(decodeImageFile(at('svg.jpg'))).rejects.toThrow(
      /not a supported image format \(JPEG, PNG, WebP, GIF, TIFF, AVIF\): it is an SVG image/,
    );
  });

  it("libvips' own .v format is refused", async () => {
    // The .v header starts with its magic number (either byte order); sharp cannot write one to a buffer.
    const bytes = Buffer.concat([Buffer.from([0x08, 0xf2, 0xa6, 0xb6]), Buffer.alloc(64)]);
    await expect(decodeImageFile(new Uint8Array(bytes))).rejects.toThrow(
      /not a supported image format.*libvips \.v file/,
    );
  });

  it('the six formats are recognized by their signatures', async () => {
    const img = sharp({ create: { width: 8, height: 8, channels: 3, background: '#123456' } });
    for (const f of ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif'] as const) {
      const b = await img.clone().toFormat(f).toBuffer();
      expect(sniffImageFormat(new Uint8Array(b)), f).toBe(f);
      const rgb = await decodeImageFile(new Uint8Array(b));
      expect([rgb.width, rgb.height]).toEqual([8, 8]);
    }
  });
});

describe('finding 8: decompression and resampling are bounded by what the output needs', () => {
  it('a gzip IDX whose header declares [2^32-1, 28, 28] is refused before inflating', async () => {
    const gz = lyingIdxGz([2 ** 32 - 1, 28, 28], 8 << 20);
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    await expect(readIdx(gz, 'lying.gz')).rejects.toThrow(
      /the IDX header declares 3367254359296 bytes, more than \d+ gzip bytes can hold/,
    );
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
    // With the dataset's bound, a header that could fit the gzip is refused as well.
    await expect(readIdx(lyingIdxGz([100_000, 28, 28], 0), 'big.gz', { maxBytes: 60_000 * 784 + 16 })).rejects.toThrow(
      /more than the 47040016 this dataset can need/,
    );
  });

  it('a 1x250000 PNG is preprocessed with tables sized for the crop, not the resized height', async () => {
    const png = await sharp(Buffer.alloc(250_000 * 3, 128), { raw: { width: 1, height: 250_000, channels: 3 } })
      .png()
      .toBuffer();
    expect(png.length).toBeLessThan(20_000);
    const img = await decodeImageFile(new Uint8Array(png), { name: 'tall.png' });
    const t0 = performance.now();
    const rssBefore = process.memoryUsage().rss;
    const chw = preprocess(img, { interpolation: 'bicubic', cropPct: 0.875, size: 224 });
    expect(chw.length).toBe(3 * 224 * 224);
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(400 * 2 ** 20);
  });
});

describe('finding 10: only regular files of a bounded size are read', () => {
  it('a FIFO is refused at once (opening it does not block), /dev/zero too', async () => {
    const fifo = at('weights.fifo');
    execFileSync('mkfifo', [fifo]);
    const t0 = performance.now();
    await expect(readInputFile(fifo, 'weights file')).rejects.toThrow(
      `weights file ${fifo} is a FIFO, not a regular file: refusing to read it`,
    );
    expect(() => readInputFileSync(fifo, 'checkpoint')).toThrow(/is a FIFO/);
    await expect(readInputFile('/dev/zero', 'checkpoint')).rejects.toThrow(
      'checkpoint /dev/zero is a device, not a regular file: refusing to read it',
    );
    await expect(decodeImageFile(fifo)).rejects.toThrow(/not a regular file/);
    expect(performance.now() - t0).toBeLessThan(10_000); // a blocking open never returns
  });

  it('a file over the cap is refused without reading it', async () => {
    writeFileSync(at('big.bin'), Buffer.alloc(4096));
    await expect(readInputFile(at('big.bin'), 'weights file', { maxBytes: 1000 })).rejects.toThrow(
      /is 4096 bytes, more than the 1000-byte limit/,
    );
  });

  it('the CLI refuses a FIFO as weights and out-of-range --threads / --size with one line', () => {
    const fifo = at('cli.fifo');
    execFileSync('mkfifo', [fifo]);
    const r = runCli(['convert', fifo, at('out.safetensors')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`repghost: checkpoint ${fifo} is a FIFO, not a regular file: refusing to read it`);
    const t = runCli(['predict', 'x.png', '--weights', 'w.safetensors', '--threads', '1000']);
    expect(t.code).toBe(2);
    expect(t.stderr.trim()).toBe("repghost: --threads takes an integer from 1 to 64, got '1000'");
    const s = runCli(['preprocess', 'x.png', 'o.safetensors', '--size', '30000']);
    expect(s.code).toBe(2);
    expect(s.stderr.trim()).toBe("repghost: --size takes an integer from 1 to 2048, got '30000'");
  });
});

describe('finding 11: IDX images must have the size the dataset requires', () => {
  it('1x1 "Fashion-MNIST" images are refused', async () => {
    mkdirSync(at('fm'));
    const idx = (dims: number[], payload: Uint8Array): Uint8Array => {
      const h = new Uint8Array(4 + 4 * dims.length);
      h.set([0, 0, 8, dims.length]);
      dims.forEach((d, i) => new DataView(h.buffer).setUint32(4 + 4 * i, d, false));
      const out = new Uint8Array(h.length + payload.length);
      out.set(h);
      out.set(payload, h.length);
      return out;
    };
    writeFileSync(at('fm', 'train-images-idx3-ubyte'), idx([5, 1, 1], new Uint8Array(5)));
    writeFileSync(at('fm', 'train-labels-idx1-ubyte'), idx([5], new Uint8Array(5)));
    await expect(loadFashionMnistSplit(at('fm'), 'train')).rejects.toThrow(/images are 1x1, Fashion-MNIST's are 28x28/);
    await expect(readIdx(idx([2], new Uint8Array(2)), 'x')).resolves.toBeTruthy();
    expect(IdxError).toBeDefined();
  });
});

describe('guards at the CLI call sites', () => {
  it('convert refuses same/ck.pth with same -> . and /proc/self/cwd/ck.pth', () => {
    mkdirSync(at('cv'));
    writeFileSync(at('cv', 'ck.pth'), 'weights');
    symlinkSync('.', at('cv', 'same'));
    for (const out of ['same/ck.pth', '/proc/self/cwd/ck.pth']) {
      const r = spawnSync(
        process.execPath,
        [
          '--import',
          pathToFileURL(path.join(repoRoot, 'node_modules/tsx/dist/loader.mjs')).href,
          path.join(repoRoot, 'src/cli/main.ts'),
          'convert',
          'ck.pth',
          out,
        ],
        { cwd: at('cv'), encoding: 'utf8', timeout: 60_000 },
      );
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim()).toBe('repghost: output would overwrite the input checkpoint: choose another output path');
    }
    expect(readFileSync(at('cv', 'ck.pth'), 'utf8')).toBe('weights');
  });
});
