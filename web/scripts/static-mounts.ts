/**
 * A Vite plugin that serves folders of plain files under URL prefixes in dev and copies
 * them into the build output: for files the page loads by URL at run time (ORT's wasm
 * runtime, the shipped model) and that must reach the browser byte for byte, unbundled.
 */
import { copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Plugin, ResolvedConfig } from 'vite';

/** Cross-origin isolation: required for SharedArrayBuffer, hence for wasm threads. */
export const ISOLATION_HEADERS: Record<string, string> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** One folder served under a URL prefix. */
export interface Mount {
  /** URL path relative to the page base, ending in '/' (e.g. 'ort/'). */
  urlPrefix: string;
  /** Folder on disk. */
  dir: string;
  /** Only these files (default: every file below `dir`). */
  files?: string[];
  /** Leave out files whose relative path matches. */
  exclude?: RegExp;
  /** When the folder is missing, warn instead of failing the build. */
  optional?: boolean;
  /** Also serve `index.json`: the list of files (a static page cannot list a folder). */
  index?: boolean;
}

/** Content types the browser insists on (module scripts and streaming wasm compilation). */
export const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
  '.onnx': 'application/octet-stream',
};

function listFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, r));
    else if (e.isFile()) out.push(r);
  }
  return out;
}

function mountFiles(m: Mount): string[] {
  if (!existsSync(m.dir)) {
    if (m.optional) return [];
    throw new Error(`static mount ${m.urlPrefix}: folder ${m.dir} does not exist`);
  }
  return (m.files ?? listFiles(m.dir)).filter((f) => !m.exclude?.test(f));
}

/** The Vite plugin: middleware in `vite dev`/`vite preview`-less dev, file copies at build end. */
export function staticMounts(mounts: Mount[]): Plugin {
  let config: ResolvedConfig;
  return {
    name: 'repghost-static-mounts',
    configResolved(c) {
      config = c;
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const url = decodeURIComponent((req.url ?? '').split('?')[0]!);
        const base = server.config.base === './' ? '/' : server.config.base;
        for (const m of mounts) {
          const prefix = base + m.urlPrefix;
          if (!url.startsWith(prefix)) continue;
          const rel = url.slice(prefix.length);
          const allowed = mountFiles(m);
          if (m.index && rel === 'index.json') {
            res.setHeader('Content-Type', 'application/json');
            for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
            res.end(JSON.stringify(allowed));
            return;
          }
          if (!allowed.includes(rel)) break;
          const file = path.join(m.dir, rel);
          res.setHeader('Content-Type', MIME[path.extname(file)] ?? 'application/octet-stream');
          res.setHeader('Content-Length', String(statSync(file).size));
          for (const [k, v] of Object.entries(ISOLATION_HEADERS)) res.setHeader(k, v);
          createReadStream(file).pipe(res);
          return;
        }
        next();
      });
    },
    writeBundle() {
      for (const m of mounts) {
        const files = mountFiles(m);
        if (files.length === 0)
          config.logger.warn(`static mount ${m.urlPrefix}: ${m.dir} is missing; the page will report it`);
        for (const f of files) {
          const dest = path.join(config.build.outDir, m.urlPrefix, f);
          mkdirSync(path.dirname(dest), { recursive: true });
          copyFileSync(path.join(m.dir, f), dest);
        }
        if (m.index && files.length > 0)
          writeFileSync(path.join(config.build.outDir, m.urlPrefix, 'index.json'), JSON.stringify(files));
      }
    },
  };
}
