/**
 * The page loads published ImageNet weights by name through the browser hub code (fetch +
 * Cache API) from the loopback hub (test/hub/server.ts, `?hub=`), classifies with them like
 * Node does, serves a reload from the browser cache, and makes the fp16 / int8-weight files
 * of the loaded model with their size and latency. Headless Chromium on 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { buildPage } from '../../web/scripts/build.js';
import { serveStatic, type StaticServer } from '../../web/scripts/static-server.js';
import { launchChromium } from '../../web/scripts/chromium.js';
import { RepGhost } from '../../src/node/api.js';
import { pretrainedEntry } from '../../src/hub/registry.js';
import { goldenFiles, startHubServer, type HubServer } from '../hub/server.js';
import { maxAbsDiff, sharedPath } from '../helpers/shared.js';

const image = (name: string) => sharedPath('golden/preprocess', name);

interface Hook {
  ready: boolean;
  tasks: number;
  results: { image: string; model: string; logits: number[] }[];
  errors: { what: string; message: string }[];
  pretrained: { model: string; fromCache: boolean; bytes: number } | null;
  formats: { precision: string; bytes: number; latencyMs: number; maxDiff: number }[];
}

let outDir: string;
let server: StaticServer;
let hub: HubServer;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

const hookState = () =>
  page.evaluate(() => {
    const h = (window as unknown as { __repghost: Hook }).__repghost;
    return {
      tasks: h.tasks,
      errors: h.errors.map((e) => e.message),
      last: h.results.at(-1) ?? null,
      pretrained: h.pretrained,
      formats: h.formats,
    };
  });

async function act(action: () => Promise<unknown>): Promise<void> {
  const before = (await hookState()).tasks;
  await action();
  await page.waitForFunction(
    (n) => (window as unknown as { __repghost: Hook }).__repghost.tasks > n && document.body.dataset.state === 'idle',
    before,
    { timeout: 60_000 },
  );
}

async function openPage(): Promise<void> {
  await page.goto(`${server.url}?hub=${encodeURIComponent(hub.url)}&runs=3`);
  await page.waitForFunction(() => (window as unknown as { __repghost?: Hook }).__repghost?.ready === true, null, {
    timeout: 60_000,
  });
}

beforeAll(async () => {
  outDir = mkdtempSync(path.join(tmpdir(), 'repghost-web-pretrained-'));
  await buildPage(outDir);
  server = await serveStatic(outDir);
  hub = await startHubServer();
  browser = await launchChromium();
  // One context for both page loads: the Cache API storage persists across the reload.
  page = await (await browser.newContext()).newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await openPage();
});

afterAll(async () => {
  await (browser as Browser | undefined)?.close(); // unset when beforeAll failed
  await (server as StaticServer | undefined)?.close();
  await (hub as HubServer | undefined)?.close();
  if (outDir) rmSync(outDir, { recursive: true, force: true });
});

describe('published ImageNet weights in the page', () => {
  let nodeLogits: Float32Array;

  it('downloads repghostnet_0_5x by name from the hub, verified, and classifies like Node', async () => {
    const bytes = goldenFiles().hf050;
    // The page applies the weights' own evaluation preprocessing (bilinear); so does Node here.
    const { preprocess } = pretrainedEntry('repghostnet_0_5x');
    const model = await RepGhost.load({
      weights: bytes,
      fileName: 'model.safetensors',
      model: 'repghostnet_0_5x',
      preprocess,
      threads: 1,
    });
    nodeLogits = await model.infer(await model.preprocess(image('chelsea.png')), 1);
    await model.dispose();

    await act(() => page.click('#tab-custom'));
    await page.selectOption('#pretrained-model', 'repghostnet_0_5x'); // queues nothing; the button does
    await act(() => page.click('#pretrained-load'));
    const s = await hookState();
    expect(s.errors).toEqual([]);
    expect(s.pretrained).toEqual({ model: 'repghostnet_0_5x', fromCache: false, bytes: bytes.length });
    expect(await page.textContent('#pretrained-status')).toMatch(/downloaded from 127\.0\.0\.1/);
    expect(await page.textContent('#custom-status')).toMatch(/repghostnet_0_5x, 1000 classes/);
    expect(hub.cdnRequests().length).toBe(1);

    await act(() => page.setInputFiles('#image-file', image('chelsea.png')));
    const r = (await hookState()).last!;
    expect(r).toMatchObject({ image: 'chelsea.png', model: 'repghostnet_0_5x' });
    expect(maxAbsDiff(r.logits, nodeLogits)).toBeLessThanOrEqual(1e-4);
  });

  it('makes the fp16 / int8-weight files, with their size and latency', async () => {
    await act(() => page.click('#formats-make'));
    const { formats, errors } = await hookState();
    expect(errors).toEqual([]);
    expect(formats.map((f) => f.precision)).toEqual(['fp32', 'fp16', 'int8']);
    const [f32, f16, i8] = formats;
    expect(f16!.bytes / f32!.bytes).toBeLessThanOrEqual(0.55);
    expect(i8!.bytes / f32!.bytes).toBeLessThanOrEqual(0.3);
    const top = Math.max(...nodeLogits.map(Math.abs));
    expect(f16!.maxDiff).toBeLessThanOrEqual(1e-2 * top);
    expect(i8!.maxDiff).toBeLessThanOrEqual(5e-2 * top);
    for (const f of formats) expect(f.latencyMs).toBeGreaterThan(0);
    expect(await page.locator('#formats tbody tr').count()).toBe(3);
    expect(await page.getAttribute('#formats tbody tr:nth-child(3) a', 'download')).toBe('repghostnet_0_5x-int8.onnx');
  });

  it('serves a reload from the browser cache without a download', async () => {
    hub.reset();
    await openPage();
    await act(() => page.click('#tab-custom'));
    await act(() => page.click('#pretrained-load'));
    const s = await hookState();
    expect(s.pretrained).toMatchObject({ model: 'repghostnet_0_5x', fromCache: true });
    expect(hub.requests).toEqual([]);
    expect(await page.textContent('#pretrained-status')).toMatch(/from the browser cache/);
    expect(pageErrors).toEqual([]);
  });
});
