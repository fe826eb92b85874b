/**
 * The page on WebGPU: Debian's headless Chromium with SwiftShader's Vulkan as the WebGPU
 * adapter (web/scripts/chromium.ts), page on http://127.0.0.1 (a secure context). `auto`
 * must pick WebGPU when an adapter exists; logits on WebGPU must match wasm's within 1e-3
 * on the golden images. (The explicit-WebGPU-without-adapter error is in e2e.test.ts, whose
 * Chromium runs with the GPU disabled.) SwiftShader is a CPU rasterizer: no speed claims.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { buildPage } from '../../web/scripts/build.js';
import { serveStatic, type StaticServer } from '../../web/scripts/static-server.js';
import { launchChromium } from '../../web/scripts/chromium.js';
import { maxAbsDiff, sharedPath, sharedTensors } from '../helpers/shared.js';

const CHECKPOINT = sharedPath('golden/repghostnet_0_5x/checkpoint.pth');
const image = (name: string) => sharedPath('golden/preprocess', name);
const WEBGPU_TOL = 1e-3;

interface Hook {
  ready: boolean;
  tasks: number;
  backend: string | null;
  webgpuUnavailable: string | null;
  results: { image: string; backend: string; logits: number[] }[];
  errors: { what: string; message: string }[];
}

let outDir: string;
let server: StaticServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

const state = () =>
  page.evaluate(() => {
    const h = (window as unknown as { __repghost: Hook }).__repghost;
    return {
      tasks: h.tasks,
      backend: h.backend,
      reason: h.webgpuUnavailable,
      errors: h.errors.map((e) => e.message),
      last: h.results.at(-1) ?? null,
    };
  });

/** Runs one page action (which queues exactly one task) and waits for the page to finish it. */
async function act(action: () => Promise<unknown>): Promise<void> {
  const before = (await state()).tasks;
  await action();
  await page.waitForFunction(
    (n) => (window as unknown as { __repghost: Hook }).__repghost.tasks > n && document.body.dataset.state === 'idle',
    before,
    { timeout: 120_000 },
  );
}

beforeAll(async () => {
  outDir = mkdtempSync(path.join(tmpdir(), 'repghost-webgpu-'));
  await buildPage(outDir);
  server = await serveStatic(outDir);
  browser = await launchChromium({ webgpu: true });
  page = await browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // One timed run per form: SwiftShader takes seconds per 224x224 inference.
  await page.goto(`${server.url}?runs=1`);
  await page.waitForFunction(() => (window as unknown as { __repghost?: Hook }).__repghost?.ready === true, null, {
    timeout: 240_000,
  });
}, 300_000);

afterAll(async () => {
  await (browser as Browser | undefined)?.close(); // unset when beforeAll failed
  await (server as StaticServer | undefined)?.close();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('WebGPU (SwiftShader) in headless Chromium', () => {
  it("'auto' picks WebGPU when an adapter exists, and the page says so", async () => {
    const s = await state();
    expect(s.errors).toEqual([]);
    expect(s.backend).toBe('webgpu');
    expect(s.reason).toBeNull();
    expect(await page.textContent('#runtime-info')).toMatch(/WebGPU/);
    expect(await page.textContent('#runtime-note')).toBe('');
  });

  it('gives the wasm logits within 1e-3 on the golden images (golden 0.5x checkpoint)', async () => {
    await act(() => page.click('#tab-custom'));
    await act(() => page.setInputFiles('#ckpt-file', CHECKPOINT));
    const logits: Record<string, Record<string, number[]>> = { webgpu: {}, wasm: {} };
    const files = ['chelsea.png', 'coffee.png'];
    for (const backend of ['webgpu', 'wasm'] as const) {
      await act(() => page.selectOption('#ep', backend));
      for (const f of files) {
        await act(() => page.setInputFiles('#image-file', image(f)));
        const r = (await state()).last!;
        expect(r).toMatchObject({ image: f, backend });
        logits[backend]![f] = r.logits;
      }
    }
    const diffs = Object.fromEntries(files.map((f) => [f, maxAbsDiff(logits.webgpu![f]!, logits.wasm![f]!)]));
    console.log('WebGPU (SwiftShader) vs wasm, max abs logit difference:', JSON.stringify(diffs));
    for (const f of files) expect(diffs[f], f).toBeLessThanOrEqual(WEBGPU_TOL);
    // And WebGPU against PyTorch's official deploy logits of chelsea (row 0 of the golden input).
    const ref = (
      sharedTensors('golden/repghostnet_0_5x/expected.safetensors').get('logits_deploy')!.data as Float32Array
    ).subarray(0, 1000);
    expect(maxAbsDiff(logits.webgpu!['chelsea.png']!, ref)).toBeLessThanOrEqual(WEBGPU_TOL);
    expect(pageErrors).toEqual([]);
  }, 300_000); // SwiftShader: seconds per inference, more on a loaded machine
});
