/** The parts of src/browser that need no browser: backend choice, thread defaults, alpha drop. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { chooseBackend, defaultThreads, webgpuUnavailableReason } from '../../src/browser/ort.js';
import { dropAlpha } from '../../src/browser/decode.js';

afterEach(() => vi.unstubAllGlobals());

describe('execution provider choice', () => {
  it('never falls back silently', async () => {
    vi.stubGlobal('navigator', {});
    expect(await webgpuUnavailableReason()).toMatch(/navigator\.gpu is missing/);
    // auto: wasm, with the reason to show
    expect(await chooseBackend('auto')).toEqual({
      backend: 'wasm',
      webgpuUnavailable: expect.stringMatching(/navigator\.gpu/) as string,
    });
    // explicit webgpu: an error, not wasm
    await expect(chooseBackend('webgpu')).rejects.toThrow(/^cannot use WebGPU: /);
    expect(await chooseBackend('wasm')).toEqual({ backend: 'wasm' });
  });

  it('uses WebGPU only with an adapter', async () => {
    vi.stubGlobal('navigator', { gpu: { requestAdapter: () => Promise.resolve(null) } });
    expect((await chooseBackend('auto')).webgpuUnavailable).toMatch(/no GPU adapter/);
    vi.stubGlobal('navigator', {
      gpu: {
        requestAdapter: () => Promise.reject(new Error('blocked')),
      },
    });
    expect((await chooseBackend('auto')).webgpuUnavailable).toMatch(/adapter request failed: blocked/);
    vi.stubGlobal('navigator', { gpu: { requestAdapter: () => Promise.resolve({}) } });
    expect(await chooseBackend('auto')).toEqual({ backend: 'webgpu' });
    expect(await chooseBackend('webgpu')).toEqual({ backend: 'webgpu' });
  });

  it('asks for threads only when the page is cross-origin isolated', () => {
    vi.stubGlobal('crossOriginIsolated', false);
    vi.stubGlobal('navigator', { hardwareConcurrency: 8 });
    expect(defaultThreads()).toBe(1);
    vi.stubGlobal('crossOriginIsolated', true);
    expect(defaultThreads()).toBe(4); // ORT Web's own cap
    vi.stubGlobal('navigator', { hardwareConcurrency: 2 });
    expect(defaultThreads()).toBe(2);
  });
});

describe('dropAlpha', () => {
  it('keeps the stored colour under any alpha, as PIL convert("RGB") does', () => {
    expect([...dropAlpha(new Uint8Array([1, 2, 3, 0, 4, 5, 6, 128, 7, 8, 9, 255]))]).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]);
  });
});
