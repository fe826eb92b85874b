/**
 * `repghost demo [images...]`: the shipped Fashion-MNIST RepGhostNet (trained by this
 * package with the official recipe) classifies the bundled samples, or your pictures,
 * and the training-form and deploy-form graphs are timed side by side. No download.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { loadWeights } from '../../reparam/load.js';
import { exportOnnx } from '../../onnx/emit.js';
import { rank, type Prediction } from '../../api/postprocess.js';
import { fashionInput, FASHION_MNIST_SIZE } from '../../data/fashion-input.js';
import { readInputFile } from '../../node/read-input.js';
import { intFlag, MAX_THREADS } from '../flags.js';
import { table } from '../format.js';
import { median } from '../../util/stats.js';

/** assets/ sits beside src/ and dist/: the same relative path from either. */
const ASSETS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../assets/fashion-mnist');

interface DemoFlags {
  runs: number;
  threads: number;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description(
      'classify the bundled Fashion-MNIST samples (or your images) with the shipped repghostnet_0_5x, and time ' +
        'its training-form vs deploy-form graph on ONNX Runtime',
    )
    .argument(
      '[images...]',
      'your own pictures (a garment on a plain background works best); default: the bundled test-set samples',
    )
    .option('--runs <n>', 'timed batch-1 runs per graph', intFlag('--runs'), 200)
    .option('--threads <n>', 'ONNX Runtime threads', intFlag('--threads', 1, MAX_THREADS), 1)
    .option('--json', 'print one JSON object')
    .action(async (images: string[], opts: DemoFlags) => {
      const meta = JSON.parse(readFileSync(path.join(ASSETS, 'meta.json'), 'utf8')) as {
        model: string;
        test_top1: number;
        epochs: number;
      };
      const labels = JSON.parse(readFileSync(path.join(ASSETS, 'labels.json'), 'utf8')) as string[];
      const files = images.length
        ? images
        : readdirSync(path.join(ASSETS, 'samples'))
            .filter((f) => f.endsWith('.png'))
            .sort()
            .map((f) => path.join(ASSETS, 'samples', f));
      // Native modules load on demand so --help stays instant.
      const [{ createNodeEngine }, { decodeImageFile }] = await Promise.all([
        import('../../node/ort.js'),
        import('../../node/decode.js'),
      ]);
      const inputs = await Promise.all(
        files.map(async (f) => fashionInput(await decodeImageFile(await readInputFile(f, 'image'), { name: f }))),
      );
      const train = loadWeights(await readInputFile(path.join(ASSETS, 'model.safetensors'), 'shipped model'), {
        model: meta.model,
      });
      const deploy = loadWeights(await readInputFile(path.join(ASSETS, 'deploy.safetensors'), 'shipped model'), {
        model: meta.model,
      });
      const size = FASHION_MNIST_SIZE;
      const graphs = {
        train: exportOnnx(train.spec, train.stateDict, { mode: 'train', inputSize: [size, size] }),
        deploy: exportOnnx(deploy.spec, deploy.deploy, { mode: 'deploy', inputSize: [size, size] }),
      };
      const engines = {
        train: await createNodeEngine(graphs.train, { threads: opts.threads }),
        deploy: await createNodeEngine(graphs.deploy, { threads: opts.threads }),
      };
      try {
        const results: { image: string; predictions: Prediction[]; max_abs_train_vs_deploy: number }[] = [];
        for (const [i, x] of inputs.entries()) {
          const a = await engines.train.logits(x.input, 1, size, size);
          const b = await engines.deploy.logits(x.input, 1, size, size);
          const diff = a.reduce((m, v, j) => Math.max(m, Math.abs(v - b[j]!)), 0);
          results.push({ image: files[i]!, predictions: rank(b, labels, 3), max_abs_train_vs_deploy: diff });
        }
        // Interleave the two graphs so machine noise hits both alike.
        const times = { train: [] as number[], deploy: [] as number[] };
        const x = inputs[0]!.input;
        for (let r = 0; r < 20; r++) {
          await engines.train.logits(x, 1, size, size);
          await engines.deploy.logits(x, 1, size, size);
        }
        for (let r = 0; r < opts.runs; r++) {
          for (const form of ['train', 'deploy'] as const) {
            const t0 = performance.now();
            await engines[form].logits(x, 1, size, size);
            times[form].push(performance.now() - t0);
          }
        }
        const latency = { train_ms: median(times.train), deploy_ms: median(times.deploy) };
        const summary = {
          model: meta.model,
          test_top1: meta.test_top1,
          results,
          latency: {
            ...latency,
            speedup: latency.train_ms / latency.deploy_ms,
            runs: opts.runs,
            threads: opts.threads,
            batch: 1,
            input: [1, 3, size, size],
          },
        };
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(summary)}\n`);
          return;
        }
        const lines = [
          `${meta.model} trained on Fashion-MNIST by repghost (${meta.epochs} epochs, test top-1 ` +
            `${meta.test_top1} %), deploy form on ONNX Runtime:`,
          '',
        ];
        for (const r of results) {
          lines.push(path.basename(r.image));
          r.predictions.forEach((p, k) =>
            lines.push(`  ${k + 1}. ${p.label.padEnd(12)} ${(100 * p.probability).toFixed(1).padStart(5)} %`),
          );
        }
        const worst = Math.max(...results.map((r) => r.max_abs_train_vs_deploy));
        lines.push(
          '',
          `latency, batch 1, ${opts.threads} thread(s), median of ${opts.runs} runs (training form and deploy ` +
            `form give the same logits within ${worst.toExponential(1)}):`,
          '',
        );
        lines.push(
          table(
            [
              ['form', 'graph', 'ms'],
              ['train', 'fusion branches + every BN', latency.train_ms.toFixed(3)],
              ['deploy', 're-parameterized, BN folded', latency.deploy_ms.toFixed(3)],
            ],
            [false, false, true],
          ),
        );
        lines.push('', `deploy form is ${(latency.train_ms / latency.deploy_ms).toFixed(2)}x faster`);
        process.stdout.write(`${lines.join('\n')}\n`);
      } finally {
        await engines.train.dispose();
        await engines.deploy.dispose();
      }
    });
}
