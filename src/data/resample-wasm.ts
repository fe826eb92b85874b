/**
 * The resampler's two passes in WebAssembly SIMD (source: wasm/resample.ts), behind the same
 * interface as the TypeScript kernels and giving the same bytes: about 7x faster on
 * ImageNet-sized photos, which is most of the eval preprocessing after decoding.
 *
 * Each call copies its input into the module's linear memory, runs, and copies the result
 * out. One instance per thread (module state), grown on demand; an instance grown past
 * {@link KEEP_BYTES} by a large image is dropped at the next call so one big photo does
 * not pin its memory. Where WebAssembly SIMD is missing, or a call would need more than
 * {@link MAX_BYTES}, the TypeScript kernels run instead.
 *
 * Pure TypeScript + WebAssembly: no Node or DOM imports, so the browser build shares it.
 */
import type { AxisCoeffs, ResampleKernels } from './pil-resample.js';
import { RESAMPLE_WASM_BASE64 } from './resample-wasm-binary.js';

/** Bytes after every buffer: the kernels read and write whole 16-byte vectors past a row's end. */
const SLACK = 16;
/** Memory an instance may keep between calls. */
const KEEP_BYTES = 64 * 2 ** 20;
/** Largest call run in WebAssembly (offsets stay far from the 32-bit limit). */
const MAX_BYTES = 2 ** 30;
const PAGE = 65536;

interface KernelExports {
  memory: WebAssembly.Memory;
  horizontal(
    src: number,
    srcStride: number,
    rows: number,
    cols: number,
    starts: number,
    weights: number,
    taps: number,
    out: number,
  ): void;
  vertical(src: number, rowLen: number, rows: number, starts: number, weights: number, taps: number, out: number): void;
}

let compiled: WebAssembly.Module | null | undefined;
let instance: KernelExports | null = null;

/** The compiled module, or null where this runtime has no WebAssembly SIMD. */
function kernelModule(): WebAssembly.Module | null {
  if (compiled === undefined) {
    compiled = null;
    try {
      const bytes = Uint8Array.from(atob(RESAMPLE_WASM_BASE64), (c) => c.charCodeAt(0));
      if (typeof WebAssembly === 'object' && WebAssembly.validate(bytes)) compiled = new WebAssembly.Module(bytes);
    } catch {
      compiled = null; // no WebAssembly at all (or blocked by a content security policy)
    }
  }
  return compiled;
}

/** True when the WebAssembly kernels run in this runtime (else resizing uses the TypeScript ones). */
export function wasmResampleAvailable(): boolean {
  return kernelModule() !== null;
}

/** An instance whose memory holds at least `bytes`, or null (too large, or no WebAssembly). */
function instanceWith(bytes: number): KernelExports | null {
  const mod = kernelModule();
  if (mod === null || bytes > MAX_BYTES) return null;
  if (instance === null || (instance.memory.buffer.byteLength > KEEP_BYTES && bytes <= KEEP_BYTES)) {
    instance = new WebAssembly.Instance(mod, {}).exports as unknown as KernelExports;
  }
  const have = instance.memory.buffer.byteLength;
  if (have < bytes) {
    try {
      instance.memory.grow(Math.ceil((bytes - have) / PAGE));
    } catch {
      return null; // the engine refused the memory: the TypeScript kernels need far less at once
    }
  }
  return instance;
}

/** Sequential layout of the buffers of one call, each 16-byte aligned and followed by slack. */
function layout(...sizes: number[]): { at: number[]; total: number } {
  const at: number[] = [];
  let next = 0;
  for (const size of sizes) {
    at.push(next);
    next += Math.ceil((size + SLACK) / 16) * 16;
  }
  return { at, total: next };
}

/** The table's starts and weights for outputs [first, first + n) written at `startsAt` / `weightsAt`. */
function writeTable(
  memory: WebAssembly.Memory,
  c: AxisCoeffs,
  first: number,
  n: number,
  startsAt: number,
  weightsAt: number,
  startOf: (s: number) => number,
): void {
  const starts = new Int32Array(memory.buffer, startsAt, n);
  for (let i = 0; i < n; i++) starts[i] = startOf(c.start[first + i]!);
  new Int32Array(memory.buffer, weightsAt, n * c.taps).set(c.k.subarray(first * c.taps, (first + n) * c.taps));
}

/** The WebAssembly SIMD kernels; each call falls back to the TypeScript kernels when it cannot run here. */
export function wasmKernels(fallback: ResampleKernels): ResampleKernels {
  return {
    horizontal(src, srcWidth, rowStart, rows, colStart, cols, c) {
      const rowBytes = srcWidth * 3;
      const outBytes = rows * cols * 3;
      const { at, total } = layout(rows * rowBytes, cols * 4, cols * c.taps * 4, outBytes);
      const [srcAt, startsAt, weightsAt, outAt] = at as [number, number, number, number];
      const k = instanceWith(total);
      if (k === null) return fallback.horizontal(src, srcWidth, rowStart, rows, colStart, cols, c);
      new Uint8Array(k.memory.buffer).set(src.subarray(rowStart * rowBytes, (rowStart + rows) * rowBytes), srcAt);
      writeTable(k.memory, c, colStart - c.from, cols, startsAt, weightsAt, (s) => s * 3);
      k.horizontal(srcAt, rowBytes, rows, cols, startsAt, weightsAt, c.taps, outAt);
      return new Uint8Array(k.memory.buffer).slice(outAt, outAt + outBytes);
    },
    vertical(src, width, rowStart, rows, c, srcRowOffset) {
      const rowLen = width * 3;
      const outBytes = rows * rowLen;
      const { at, total } = layout(src.length, rows * 4, rows * c.taps * 4, outBytes);
      const [srcAt, startsAt, weightsAt, outAt] = at as [number, number, number, number];
      const k = instanceWith(total);
      if (k === null) return fallback.vertical(src, width, rowStart, rows, c, srcRowOffset);
      new Uint8Array(k.memory.buffer).set(src, srcAt);
      writeTable(k.memory, c, rowStart - c.from, rows, startsAt, weightsAt, (s) => s - srcRowOffset);
      k.vertical(srcAt, rowLen, rows, startsAt, weightsAt, c.taps, outAt);
      return new Uint8Array(k.memory.buffer).slice(outAt, outAt + outBytes);
    },
  };
}
