/**
 * Launches the system's Chromium (Debian's /usr/bin/chromium) headless through
 * playwright-core, for tests and the benchmark. Never downloads a browser.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** The browser binary: $CHROMIUM_PATH, else Debian's. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags for a quiet, sandbox-less headless run in a container without a GPU. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/**
 * WebGPU on the CPU: Chromium's WebGPU (Dawn) on SwiftShader's Vulkan (Debian ships
 * libvk_swiftshader.so with chromium). Correctness only: SwiftShader says nothing about
 * the speed of a real GPU. `--disable-gpu` must not be given with these.
 */
export const WEBGPU_SWIFTSHADER_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--disable-vulkan-surface',
];

/** Options of {@link launchChromium}. */
export interface LaunchOptions {
  /** Expose a WebGPU adapter (SwiftShader) instead of disabling the GPU process. */
  webgpu?: boolean;
}

/** Launches headless Chromium; fails with a message naming the path when it is missing. */
export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH} (install Debian's chromium or set CHROMIUM_PATH)`);
  }
  const args = options.webgpu
    ? [...CHROMIUM_ARGS.filter((a) => a !== '--disable-gpu'), ...WEBGPU_SWIFTSHADER_ARGS]
    : CHROMIUM_ARGS;
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args });
}
