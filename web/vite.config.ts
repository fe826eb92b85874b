/**
 * Vite config of the demo page (`npm run web:dev`, `npm run web:build`).
 *
 * - COOP/COEP headers on the dev and preview servers: wasm threads need SharedArrayBuffer,
 *   which only cross-origin-isolated pages get. A static host must send the same two headers
 *   (the page still works without them, on one thread).
 * - onnxruntime-web's `.mjs`/`.wasm` runtime files are served as plain files under `ort/`:
 *   ORT loads them at run time by URL (`env.wasm.wasmPaths`), and the threaded build spawns
 *   its workers from that `.mjs`, which a bundler must not rewrite.
 * - The shipped Fashion-MNIST model (`assets/fashion-mnist/`) is served under
 *   `models/fashion-mnist/` the same way, so the page always loads the current files.
 */
import { defaultClientConditions, defineConfig } from 'vite';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ISOLATION_HEADERS, staticMounts, type Mount } from './scripts/static-mounts.js';

const webDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(webDir, '..');

/** The ORT runtime files the page can load: the plain wasm build and the WebGPU (asyncify) build. */
export const ORT_FILES = [
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
  'ort-wasm-simd-threaded.asyncify.mjs',
  'ort-wasm-simd-threaded.asyncify.wasm',
];

export const MOUNTS: Mount[] = [
  { urlPrefix: 'ort/', dir: path.join(repoRoot, 'node_modules/onnxruntime-web/dist'), files: ORT_FILES },
  // $REPGHOST_FASHION_DIR serves another folder of the same layout (e.g. a model in training).
  {
    urlPrefix: 'models/fashion-mnist/',
    dir: path.resolve(process.env.REPGHOST_FASHION_DIR ?? path.join(repoRoot, 'assets/fashion-mnist')),
    optional: true,
    index: true,
    // The page derives the deploy form itself from model.safetensors.
    exclude: /^deploy\.safetensors$/,
  },
];

export default defineConfig({
  root: webDir,
  // Relative URLs: the built page works from any folder of any static host.
  base: './',
  plugins: [staticMounts(MOUNTS)],
  // ORT's "extern wasm" builds: the bundled builds also reference their .wasm through
  // `new URL(..., import.meta.url)`, which Vite would copy into assets/ a second time.
  resolve: { conditions: ['onnxruntime-web-use-extern-wasm', ...defaultClientConditions] },
  server: { host: '127.0.0.1', headers: ISOLATION_HEADERS, fs: { allow: [repoRoot] } },
  preview: { host: '127.0.0.1', headers: ISOLATION_HEADERS },
  // ORT must stay an ES module that resolves its runtime files by URL: no pre-bundling.
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: {
    outDir: path.join(webDir, 'dist'),
    emptyOutDir: true,
    target: 'es2022',
    // The page's own code is small; the size warning would only be about ORT's JS.
    chunkSizeWarningLimit: 1024,
    rollupOptions: {
      input: { main: path.join(webDir, 'index.html'), bench: path.join(webDir, 'bench.html') },
    },
  },
});
