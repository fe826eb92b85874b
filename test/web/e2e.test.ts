/**
 * The demo page end to end: built with Vite, served with COOP/COEP on 127.0.0.1, driven
 * in Debian's headless Chromium. The golden 0.5x training checkpoint is converted and run
 * in the page; its logits must equal onnxruntime-node's through the same library, the
 * browser-decoded input must equal PIL's, and bad input must leave the page working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { buildPage, type BuiltChunks } from '../../web/scripts/build.js';
import { serveStatic, type StaticServer } from '../../web/scripts/static-server.js';
import { launchChromium } from '../../web/scripts/chromium.js';
import { RepGhost } from '../../src/node/api.js';
import { decodeImageFile } from '../../src/node/decode.js';
import {
  FASHION_MNIST_MEAN,
  FASHION_MNIST_SIZE,
  FASHION_MNIST_STD,
  resizeBilinear,
} from '../../src/data/fashion-mnist.js';
import { loadWeights } from '../../src/reparam/load.js';
import { exportOnnx } from '../../src/onnx/emit.js';
import { createNodeEngine } from '../../src/node/ort.js';
import { maxAbsDiff, repoRoot, sharedPath, sharedTensors } from '../helpers/shared.js';

const CHECKPOINT = sharedPath('golden/repghostnet_0_5x/checkpoint.pth');
const image = (name: string) => sharedPath('golden/preprocess', name);
const LOGIT_TOL = 1e-4;
/** The shipped model the page serves ($REPGHOST_FASHION_DIR overrides it, as in web/vite.config.ts). */
const FASHION_DIR = path.resolve(process.env.REPGHOST_FASHION_DIR ?? path.join(repoRoot, 'assets/fashion-mnist'));
const HAVE_FASHION = existsSync(path.join(FASHION_DIR, 'model.safetensors'));

/** Where screenshots go: a temp folder always; docs/web-screenshot.png when missing or asked for. */
const SHOT_DIR = path.join(tmpdir(), 'repghost-web-screenshots');
const DOC_SHOT = path.join(repoRoot, 'docs/web-screenshot.png');

interface Hook {
  ready: boolean;
  tasks: number;
  active: string;
  backend: string | null;
  threads: number;
  results: {
    seq: number;
    model: string;
    image: string;
    backend: string;
    threads: number;
    logits: number[];
    logitsTrain: number[] | null;
    top: { label: string }[];
  }[];
  errors: { what: string; message: string }[];
  lastInput: Float32Array | null;
}

let outDir: string;
let chunks: BuiltChunks;
let server: StaticServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];
const timings: Record<string, number> = {};

async function timed<T>(label: string, f: () => Promise<T>): Promise<T> {
  const t = performance.now();
  try {
    return await f();
  } finally {
    timings[label] = Math.round(performance.now() - t);
  }
}

/** Evaluates `f(window.__repghost)` in the page (f must be self-contained: it is sent as source). */
const hook = <T>(f: (h: Hook) => T): Promise<T> => page.evaluate<T>(`(${f.toString()})(window.__repghost)`);
const hookState = () =>
  page.evaluate(() => {
    const h = (window as unknown as { __repghost: Hook }).__repghost;
    return { tasks: h.tasks, results: h.results.length, errors: h.errors.length };
  });

/** Runs one page action (which queues exactly one task) and waits for the page to finish it. */
async function act(action: () => Promise<unknown>): Promise<void> {
  const before = (await hookState()).tasks;
  await action();
  await page.waitForFunction(
    (n) => (window as unknown as { __repghost: Hook }).__repghost.tasks > n && document.body.dataset.state === 'idle',
    before,
    { timeout: 60_000 },
  );
}

const lastResult = () => hook((h) => h.results.at(-1) ?? null);
const lastError = () => hook((h) => h.errors.at(-1) ?? null);
/** The page's last model input, moved as base64 bytes (a JSON array of 150k floats is slow). */
async function lastInput(): Promise<Float32Array> {
  const b64 = await page.evaluate(() => {
    const x = (window as unknown as { __repghost: Hook }).__repghost.lastInput;
    if (!x) return '';
    const bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
    let s = '';
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s);
  });
  const buf = Buffer.from(b64, 'base64');
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

beforeAll(async () => {
  outDir = mkdtempSync(path.join(tmpdir(), 'repghost-web-'));
  chunks = await timed('vite build', () => buildPage(outDir));
  server = await serveStatic(outDir);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await timed('page ready', async () => {
    await page.goto(server.url);
    await page.waitForFunction(() => (window as unknown as { __repghost?: Hook }).__repghost?.ready === true, null, {
      timeout: 60_000,
    });
  });
});

afterAll(async () => {
  await (browser as Browser | undefined)?.close(); // unset when beforeAll failed
  await (server as StaticServer | undefined)?.close();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
  console.log('web e2e timings (ms):', JSON.stringify(timings));
});

describe('browser build', () => {
  it('bundles nothing Node-only', () => {
    expect(chunks.size).toBeGreaterThan(0);
    for (const [file, code] of chunks) {
      // Static or dynamic imports of Node built-ins, fs, sharp or the native ORT binding.
      expect(code, file).not.toMatch(
        /\bfrom\s*["'](node:[\w/]+|fs|fs\/promises|path|os|child_process|sharp|onnxruntime-node)["']/,
      );
      expect(code, file).not.toMatch(/\bimport\(\s*["'](node:[\w/]+|fs|sharp|onnxruntime-node)["']\s*\)/);
      expect(code, file).not.toMatch(/require\(\s*["'](fs|path|sharp|onnxruntime-node)["']\s*\)/);
      expect(code, file).not.toMatch(/onnxruntime-node|@napi-rs|\bsharp\b/);
      // Any other node: string must be onnxruntime-web's own guarded lookup of the CPU
      // count when it runs under Node (`typeof navigator > "u" ? require("node:os")`).
      const nodeStrings = code.match(/["'`]node:[\w/]+["'`]/g) ?? [];
      for (const s of nodeStrings) {
        expect(s, file).toBe('"node:os"');
        expect(file, `${s} outside onnxruntime-web's chunk`).toMatch(/ort\.(wasm|webgpu)\.min/);
      }
    }
  });

  it('serves the page cross-origin isolated, on wasm with threads, WebGPU absence stated', async () => {
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    const h = await hook((x) => ({
      backend: x.backend,
      threads: x.threads,
      reason: (x as unknown as { webgpuUnavailable: string | null }).webgpuUnavailable,
    }));
    expect(h.backend).toBe('wasm');
    expect(h.threads).toBeGreaterThanOrEqual(1);
    // Headless Chromium without a GPU has no adapter: the page must say so, not hide it.
    expect(h.reason).toMatch(/WebGPU/);
    expect(await page.textContent('#runtime-info')).toMatch(/wasm/);
  });
});

/** chelsea.png through the Node side of the library (set by the checkpoint block). */
let nodeLogits: Float32Array;

describe('user checkpoint in the page', () => {
  const expected = sharedTensors('golden/repghostnet_0_5x/expected.safetensors');
  const row0 = (key: string) => (expected.get(key)!.data as Float32Array).subarray(0, 1000);

  beforeAll(async () => {
    // The Node side of the comparison: the same library on onnxruntime-node with sharp decoding.
    const model = await RepGhost.load({ weights: CHECKPOINT, threads: 1 });
    nodeLogits = await model.infer(await model.preprocess(image('chelsea.png')), 1);
    await model.dispose();
  });

  it('converts the golden training checkpoint in the browser and classifies like Node', async () => {
    await act(() => page.click('#tab-custom'));
    await timed('checkpoint load', () => act(() => page.setInputFiles('#ckpt-file', CHECKPOINT)));
    expect(await page.textContent('#custom-status')).toMatch(/repghostnet_0_5x, 1000 classes, training form/);
    await timed('classify chelsea', () => act(() => page.setInputFiles('#image-file', image('chelsea.png'))));
    const r = (await lastResult())!;
    expect(r).toMatchObject({ model: 'repghostnet_0_5x', image: 'chelsea.png', backend: 'wasm' });
    expect(maxAbsDiff(r.logits, nodeLogits)).toBeLessThanOrEqual(LOGIT_TOL);
    // And against PyTorch: deploy graph vs the official deploy logits, training graph vs train logits.
    expect(maxAbsDiff(r.logits, row0('logits_deploy'))).toBeLessThanOrEqual(LOGIT_TOL);
    expect(maxAbsDiff(r.logitsTrain!, row0('logits_train'))).toBeLessThanOrEqual(LOGIT_TOL);
    // The page shows the top-k, both latencies and what ran.
    expect(await page.locator('#topk li').count()).toBe(5);
    expect(await page.textContent('#topk li.best .label')).toBe(r.top[0]!.label);
    expect(await page.textContent('#lat-train')).toMatch(/ms$/);
    expect(await page.textContent('#lat-deploy')).toMatch(/ms$/);
    expect(await page.textContent('#result-info')).toMatch(/on wasm · \d+ threads?/);

    mkdirSync(SHOT_DIR, { recursive: true });
    const shot = await page.screenshot({ fullPage: true });
    writeFileSync(path.join(SHOT_DIR, 'checkpoint-chelsea.png'), shot);
    if (!existsSync(DOC_SHOT) || process.env.REPGHOST_UPDATE_SCREENSHOT === '1') {
      mkdirSync(path.dirname(DOC_SHOT), { recursive: true });
      writeFileSync(DOC_SHOT, shot);
    }
    expect(statSync(DOC_SHOT).size).toBeLessThan(500_000);
  });

  it('feeds the model exactly the PIL/torchvision tensor for chelsea.png', async () => {
    const ref = sharedTensors('golden/preprocess/preprocessed.safetensors').get('chelsea.png.bicubic')!
      .data as Float32Array;
    const got = await lastInput();
    expect(got.length).toBe(ref.length);
    // PNG: browser decoding is lossless, so the PIL-exact resampler sees PIL's bytes.
    expect(maxAbsDiff(got, ref)).toBeLessThanOrEqual(1e-6);
  });

  it('decodes the other reference formats like PIL', async () => {
    const ref = sharedTensors('golden/preprocess/preprocessed.safetensors');
    // Lossless formats and palettes must be exact; JPEG decoders may round the IDCT and
    // chroma upsampling differently (libjpeg-turbo builds), which the report states.
    const exact = ['camera_gray.png', 'coffee.png', 'astronaut_rgba.png', 'chelsea_palette.gif', 'chelsea.webp'];
    const lossy = ['rocket.jpg', 'coffee_exif6.jpg'];
    const diffs: Record<string, number> = {};
    for (const f of [...exact, ...lossy]) {
      await act(() => page.setInputFiles('#image-file', image(f)));
      expect((await lastResult())!.image).toBe(f);
      diffs[f] = maxAbsDiff(await lastInput(), ref.get(`${f}.bicubic`)!.data as Float32Array);
    }
    console.log('browser decode vs PIL, max abs diff of the normalized 224 input:', JSON.stringify(diffs));
    for (const f of exact) expect(diffs[f], f).toBeLessThanOrEqual(1e-6);
    // EXIF orientation applied (a wrongly rotated image would differ by whole units), JPEG within 0.02.
    for (const f of lossy) expect(diffs[f], f).toBeLessThanOrEqual(0.02);
  });

  it('accepts a dropped image', async () => {
    const b64 = readFileSync(image('coffee.png')).toString('base64');
    const dt = await page.evaluateHandle((data) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const t = new DataTransfer();
      t.items.add(new File([bytes], 'coffee.png', { type: 'image/png' }));
      return t;
    }, b64);
    await act(() => page.dispatchEvent('#drop', 'drop', { dataTransfer: dt }));
    expect((await lastResult())!.image).toBe('coffee.png');
  });

  it('switches to the EMA weights of the same checkpoint', async () => {
    await timed('EMA load', () => act(() => page.check('input[name=ckpt-ema][value=ema]')));
    await act(() => page.setInputFiles('#image-file', image('chelsea.png')));
    const r = (await lastResult())!;
    expect(maxAbsDiff(r.logits, row0('logits_deploy_ema'))).toBeLessThanOrEqual(LOGIT_TOL);
    // Stays on EMA: the next block switches back to raw as part of its width-mismatch check.
  });
});

describe('bad input keeps the page working', () => {
  const errorText = async () =>
    (await page.isVisible('#error')) ? ((await page.textContent('#error .message')) ?? '') : '';

  it('reports a width mismatch in one line and keeps the loaded model', async () => {
    // The EMA model from the block above is loaded; ask for another width.
    await act(() => page.selectOption('#ckpt-model', 'repghostnet_1_0x'));
    const msg = (await lastError())!.message;
    expect(msg).toMatch(/^weights do not fit repghostnet_1_0x/);
    expect(msg).toMatch(/choose repghostnet_0_5x in the Model list/);
    expect(msg).not.toMatch(/\n/);
    expect(await errorText()).toBe(msg);
    await act(() => page.check('input[name=ckpt-ema][value=raw]')); // still 1_0x: fails again, quickly
    await act(() => page.selectOption('#ckpt-model', ''));
    expect(await page.textContent('#custom-status')).toMatch(/^checkpoint\.pth: repghostnet_0_5x, .*raw weights/);
  });

  it('reports a corrupt checkpoint and still classifies with the loaded model', async () => {
    // The first MB of the real checkpoint: a zip whose central directory is missing.
    const head = readFileSync(CHECKPOINT).subarray(0, 1 << 20);
    await act(() =>
      page.setInputFiles('#ckpt-file', { name: 'broken.pth', mimeType: 'application/octet-stream', buffer: head }),
    );
    expect((await lastError())!.message).toMatch(/^broken\.pth: .*truncated/);
    expect(await errorText()).toMatch(/broken\.pth: .*truncated/);
    expect(await page.textContent('#custom-status')).toMatch(/still using the previous repghostnet_0_5x/);
    const before = (await hookState()).results;
    await act(() => page.setInputFiles('#image-file', image('coffee.png')));
    expect((await hookState()).results).toBe(before + 1);
    expect((await lastResult())!).toMatchObject({ image: 'coffee.png', model: 'repghostnet_0_5x' });
    expect(await errorText()).toBe(''); // the banner goes with the next action
  });

  it('reports a foreign file in one line', async () => {
    await act(() =>
      page.setInputFiles('#ckpt-file', {
        name: 'notes.pth',
        mimeType: 'text/plain',
        buffer: Buffer.from('not a checkpoint\n'),
      }),
    );
    expect((await lastError())!.message).toBe(
      'notes.pth: not a weight file (expected a PyTorch .pth zip or safetensors)',
    );
  });

  it('refuses an explicit WebGPU request it cannot honour instead of running wasm silently', async () => {
    await act(() => page.selectOption('#ep', 'webgpu'));
    expect((await lastError())!.message).toMatch(/^cannot use WebGPU: /);
    expect(await page.inputValue('#ep')).toBe('auto'); // the control shows what still runs
    expect(await hook((h) => h.backend)).toBe('wasm');
    await act(() => page.selectOption('#ep', 'wasm'));
    expect(await page.textContent('#runtime-info')).toMatch(/^running on wasm/);
  });

  it('reports a file that is not an image', async () => {
    await act(() =>
      page.setInputFiles('#image-file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') }),
    );
    expect((await lastError())!.message).toMatch(/^cannot decode image notes\.txt: /);
    await act(() => page.setInputFiles('#image-file', image('chelsea.png')));
    const r = (await lastResult())!;
    expect(r.image).toBe('chelsea.png');
    expect(maxAbsDiff(r.logits, nodeLogits)).toBeLessThanOrEqual(LOGIT_TOL);
    expect(pageErrors).toEqual([]); // no uncaught exceptions in the page along the way
  });
});

describe.skipIf(!HAVE_FASHION)(`shipped Fashion-MNIST model (${path.relative(repoRoot, FASHION_DIR)})`, () => {
  /** The training pipeline's input for a 28x28 picture: /255, bilinear 28 -> 32, normalize, 3 channels. */
  async function nodeFashionInput(file: string): Promise<Float32Array> {
    const rgb = await decodeImageFile(file);
    expect([rgb.width, rgb.height]).toEqual([28, 28]);
    const src = new Float32Array(28 * 28);
    for (let i = 0; i < src.length; i++) src[i] = rgb.data[i * 3]! / 255;
    const S = FASHION_MNIST_SIZE;
    const up = resizeBilinear(src, 28, 28, S, S);
    const out = new Float32Array(3 * S * S);
    for (let i = 0; i < S * S; i++)
      out[i] = out[S * S + i] = out[2 * S * S + i] = (up[i]! - FASHION_MNIST_MEAN) / FASHION_MNIST_STD;
    return out;
  }

  it('loads at start and classifies samples with the training input pipeline, like Node', async () => {
    expect(await page.textContent('#fashion-status')).toMatch(/, 10 classes, /);
    await act(() => page.click('#tab-fashion'));
    const samples = await page.locator('#fashion-samples button').count();
    expect(samples).toBeGreaterThan(0);
    const loaded = loadWeights(new Uint8Array(readFileSync(path.join(FASHION_DIR, 'model.safetensors'))), {
      fileName: 'model.safetensors',
    });
    const engine = await createNodeEngine(
      exportOnnx(loaded.spec, loaded.deploy, { mode: 'deploy', inputSize: [32, 32] }),
      { threads: 1 },
    );
    const slug = (label: string) => label.toLowerCase().replace(/[^a-z]+/g, '-');
    const predicted: Record<string, string> = {};
    try {
      for (let i = 0; i < samples; i++) {
        const button = page.locator('#fashion-samples button').nth(i);
        const name = (await button.getAttribute('title'))!;
        await act(() => button.click());
        const r = (await lastResult())!;
        expect(r.image).toBe(name);
        const input = await lastInput();
        const ref = await nodeFashionInput(path.join(FASHION_DIR, 'samples', name));
        expect(maxAbsDiff(input, ref), name).toBeLessThanOrEqual(1e-6);
        expect(maxAbsDiff(r.logits, await engine.logits(ref, 1, 32, 32)), name).toBeLessThanOrEqual(LOGIT_TOL);
        predicted[name] = r.top[0]!.label;
      }
    } finally {
      await engine.dispose();
    }
    // Samples are named after their class: most must come out right, or labels, channel
    // layout or normalization are off (a broken pipeline lands near chance, 10 %).
    writeFileSync(path.join(SHOT_DIR, 'fashion-sample.png'), await page.screenshot({ fullPage: true }));
    console.log('Fashion-MNIST samples in the page:', JSON.stringify(predicted));
    const right = Object.entries(predicted).filter(
      ([file, label]) => file.replace(/\.\w+$/, '') === slug(label),
    ).length;
    expect(right).toBeGreaterThanOrEqual(Math.ceil(samples / 2));
  });

  it('classifies a drawing', async () => {
    await page.click('#draw-clear');
    const box = (await page.locator('#draw').boundingBox())!;
    await act(async () => {
      await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * 0.7, box.y + box.height * 0.8, { steps: 8 });
      await page.mouse.up();
    });
    const r = (await lastResult())!;
    expect(r.image).toBe('drawing');
    expect(r.top).toHaveLength(5);
    writeFileSync(path.join(SHOT_DIR, 'fashion-drawing.png'), await page.screenshot({ fullPage: true }));
  });
});
