/**
 * The WebAssembly SIMD resampling kernels: built from their committed source, present in
 * Node, and byte-identical to the TypeScript port of Pillow's Resample.c on random images,
 * sizes, filters and regions (the golden tests in preprocess.test.ts then hold for both).
 */
import { describe, expect, it } from 'vitest';
import {
  FILTERS,
  precomputeCoeffs,
  resampleKernels,
  TS_KERNELS,
  type ResampleFilter,
} from '../../src/data/pil-resample.js';
import { RESAMPLE_WASM_BASE64 } from '../../src/data/resample-wasm-binary.js';
import { wasmKernels, wasmResampleAvailable } from '../../src/data/resample-wasm.js';
import { Rng } from '../../src/train/rng.js';
import { binaryModuleText, compileResampleWasm } from '../../scripts/build-wasm.js';

const FILTER_NAMES = Object.keys(FILTERS) as Exclude<ResampleFilter, 'nearest'>[];

describe('WebAssembly resampling kernels', () => {
  it('the committed binary is what wasm/resample.ts compiles to', async () => {
    const binary = await compileResampleWasm();
    expect(Buffer.from(RESAMPLE_WASM_BASE64, 'base64').equals(Buffer.from(binary))).toBe(true);
    expect(binaryModuleText(binary)).toContain(RESAMPLE_WASM_BASE64.slice(0, 100));
  }, 60_000);

  it('run in Node, and resizing uses them', () => {
    expect(wasmResampleAvailable()).toBe(true);
    expect(resampleKernels()).not.toBe(TS_KERNELS);
  });

  it('give the TypeScript kernels’ bytes: 400 random images, sizes, filters and regions', () => {
    const wasm = wasmKernels(TS_KERNELS);
    const rng = new Rng(2211_06088);
    const int = (lo: number, hi: number): number => lo + rng.int(hi - lo + 1);
    for (let n = 0; n < 400; n++) {
      const filter = FILTER_NAMES[n % FILTER_NAMES.length]!;
      // Tiny (1-3 pixels, narrower than a vector), ordinary and odd sizes; shrink and enlarge.
      const inW = n % 7 === 0 ? int(1, 3) : int(1, 90);
      const inH = n % 11 === 0 ? int(1, 3) : int(1, 90);
      const outW = int(1, 120);
      const outH = int(1, 120);
      const src = Uint8Array.from({ length: inW * inH * 3 }, () =>
        rng.uniform() < 0.1 ? 255 * int(0, 1) : int(0, 255),
      );
      const colStart = int(0, outW - 1);
      const cols = int(1, outW - colStart);
      const label = `${filter} ${inW}x${inH} -> ${outW}x${outH} case ${n}`;

      const horiz = precomputeCoeffs(inW, outW, FILTERS[filter], colStart, colStart + cols);
      const rowStart = int(0, inH - 1);
      const rows = int(1, inH - rowStart);
      const h = [TS_KERNELS, wasm].map((k) => k.horizontal(src, inW, rowStart, rows, colStart, cols, horiz));
      expect(Buffer.from(h[1]!).equals(Buffer.from(h[0]!)), `horizontal ${label}`).toBe(true);

      const rowFrom = int(0, outH - 1);
      const outRows = int(1, outH - rowFrom);
      const vert = precomputeCoeffs(inH, outH, FILTERS[filter], rowFrom, rowFrom + outRows);
      const first = vert.start[0]!;
      const end = vert.start[outRows - 1]! + vert.taps;
      const band = src.subarray(first * inW * 3, end * inW * 3);
      const v = [TS_KERNELS, wasm].map((k) => k.vertical(band, inW, rowFrom, outRows, vert, first));
      expect(Buffer.from(v[1]!).equals(Buffer.from(v[0]!)), `vertical ${label}`).toBe(true);
    }
  });

  it('saturate like clip8 at both ends (negative lobes and overshoot)', () => {
    // A one-pixel black/white checkerboard enlarged by lanczos overshoots past 0 and 255.
    const w = 9;
    const src = Uint8Array.from({ length: w * w * 3 }, (_, i) => ((Math.floor(i / 3) % 2) ^ 1) * 255);
    const c = precomputeCoeffs(w, 40, FILTERS.lanczos);
    const ts = TS_KERNELS.horizontal(src, w, 0, w, 0, 40, c);
    expect(ts.includes(0) && ts.includes(255)).toBe(true);
    expect(Buffer.from(wasmKernels(TS_KERNELS).horizontal(src, w, 0, w, 0, 40, c)).equals(Buffer.from(ts))).toBe(true);
  });

  it('a large image grows the memory, and the next small one still comes out right', () => {
    const wasm = wasmKernels(TS_KERNELS);
    // 3000 rows of 8000 pixels: 72 MB in linear memory, above what an instance keeps.
    const w = 8000;
    const rows = 3000;
    const big = new Uint8Array(w * rows * 3);
    for (let i = 0; i < big.length; i += 4093) big[i] = (i >> 12) & 255;
    const c = precomputeCoeffs(w, 7, FILTERS.bilinear);
    expect(
      Buffer.from(wasm.horizontal(big, w, 0, rows, 0, 7, c)).equals(
        Buffer.from(TS_KERNELS.horizontal(big, w, 0, rows, 0, 7, c)),
      ),
    ).toBe(true);
    const small = Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => (i * 37) & 255);
    const s = precomputeCoeffs(5, 3, FILTERS.bicubic);
    expect(
      Buffer.from(wasm.horizontal(small, 5, 0, 4, 0, 3, s)).equals(
        Buffer.from(TS_KERNELS.horizontal(small, 5, 0, 4, 0, 3, s)),
      ),
    ).toBe(true);
  });
});
