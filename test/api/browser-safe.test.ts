/** The browser build's share of this layer must import nothing Node-only: bundle it for the browser. */
import { build } from 'esbuild';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/shared.js';

describe('browser safety', () => {
  it.each(['src/api/model.ts', 'src/engine/index.ts', 'src/onnx/index.ts', 'src/browser/index.ts'])(
    '%s bundles for the browser without Node built-ins',
    async (entry) => {
      const result = await build({
        entryPoints: [path.join(repoRoot, entry)],
        bundle: true,
        platform: 'browser',
        format: 'esm',
        write: false,
        logLevel: 'silent',
      });
      expect(result.errors).toEqual([]);
      expect(result.outputFiles[0]!.text).not.toMatch(/from ["']node:|require\(["'](fs|path|os|child_process)["']\)/);
    },
  );
});
