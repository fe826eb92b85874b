/**
 * validate throughput benchmark (`npm run bench:validate`; not part of the test suite).
 *
 * A generated folder of ImageNet-sized JPEGs (~500x375, crops of the golden photos, 10
 * wnid classes) is validated with the golden 0.5x deploy weights:
 * - end to end (decode + resize + crop + normalize in worker threads, overlapped with
 *   inference) and inference alone (preprocessed batches of 32, nothing else running),
 *   with 1 and 2 threads (ORT threads = data workers = N), and the single-thread
 *   preprocessing path (0 workers) for reference;
 * - preprocessing per image on one thread (ours: libjpeg decode + our resize/crop/normalize;
 *   split into decode and the rest) beside Pillow's decode + resize + crop of the same files;
 * - torchvision's ImageFolder + DataLoader (2 workers) over the same folder: the data side
 *   of PyTorch's validate loop only (PyTorch has no RepGhostNet without the official code,
 *   which we do not copy, so there is no PyTorch forward here).
 * Runs are interleaved round by round and the figures are medians; the machine's load
 * average is recorded before and after. Writes bench/results/validate.{json,md}.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { RepGhost, type RepGhost as Model } from '../src/node/api.js';
import { runValidation, type ValidationResult } from '../src/cli/validate-loop.js';
import { mapClassFolders } from '../src/data/class-map.js';
import { decodeImagePath } from '../src/data/decode-path.js';
import { ImageFolderIndex } from '../src/data/image-folder.js';
import { IMAGENET_WNIDS } from '../src/data/imagenet-wnids.js';
import { preprocess } from '../src/data/preprocess.js';
import { wasmResampleAvailable } from '../src/data/resample-wasm.js';
import { describeJpegDecoder } from '../src/node/jpeg.js';
import { SamplePool } from '../src/train/data/batch-pool.js';
import { median } from '../src/util/stats.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const shared = process.env.REPGHOST_SHARED
  ? path.resolve(process.env.REPGHOST_SHARED)
  : path.resolve(root, '../shared');
const outDir = path.join(root, 'bench', 'results');
const IMAGES = Number(process.env.BENCH_IMAGES ?? 320);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const BATCH = 32;
const PY = '/usr/bin/python3';

const load = (): number[] => loadavg().map((x) => Number(x.toFixed(2)));

/** ImageNet-sized JPEGs: random crops of the golden photos, resized to about 500x375 (some portrait), quality 90. */
async function makeFolder(dir: string): Promise<string[]> {
  const photos = ['chelsea.png', 'coffee.png', 'rocket.jpg', 'astronaut_rgba.png', 'camera_gray.png'].map((f) =>
    path.join(shared, 'golden', 'preprocess', f),
  );
  let seed = 7;
  const rand = (): number => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const files: string[] = [];
  for (let i = 0; i < IMAGES; i++) {
    const cls = IMAGENET_WNIDS[(i % 10) * 97]!;
    mkdirSync(path.join(dir, cls), { recursive: true });
    const src = sharp(photos[i % photos.length]);
    const meta = await src.metadata();
    const cw = Math.floor(meta.width * (0.6 + 0.4 * rand()));
    const ch = Math.floor(meta.height * (0.6 + 0.4 * rand()));
    const left = Math.floor((meta.width - cw) * rand());
    const top = Math.floor((meta.height - ch) * rand());
    const [w, h] = i % 4 === 3 ? [375, 500] : [500, 375];
    const file = path.join(dir, cls, `${cls}_${i}.JPEG`);
    await sharp(photos[i % photos.length])
      .extract({ left, top, width: cw, height: ch })
      .removeAlpha()
      .toColourspace('srgb')
      .resize(w, h, { fit: 'fill' })
      .jpeg({ quality: 90 })
      .toFile(file);
    files.push(file);
  }
  return files;
}

interface EndToEnd {
  label: string;
  threads: number;
  workers: number;
  runs: ValidationResult[];
  /** Images/s of the data side alone (decode + resize + crop + normalize, all workers, no inference), per round. */
  preprocessAlone: number[];
  pool?: SamplePool;
}

async function main(): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  const loadBefore = load();
  const work = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'repghost-bench-validate-'));
  try {
    const data = path.join(work, 'val');
    const files = await makeFolder(data);
    const index = await ImageFolderIndex.read(data);
    const weights = path.join(shared, 'golden', 'repghostnet_0_5x', 'deploy.safetensors');
    const models = new Map<number, Model>();
    for (const t of [1, 2])
      models.set(
        t,
        await RepGhost.load({
          weights,
          model: 'repghostnet_0_5x',
          preprocess: { interpolation: 'bilinear' },
          threads: t,
        }),
      );
    const targets = mapClassFolders(data, index.classes, 1000).targets;
    const configs: EndToEnd[] = [
      { label: '1 thread (ORT 1, 1 worker)', threads: 1, workers: 1, runs: [], preprocessAlone: [] },
      { label: '2 threads (ORT 2, 2 workers)', threads: 2, workers: 2, runs: [], preprocessAlone: [] },
      { label: 'main-thread preprocessing (ORT 2, 0 workers)', threads: 2, workers: 0, runs: [], preprocessAlone: [] },
    ];
    // Inference alone: the first 64 images preprocessed once, then batches of 32 only.
    const cfg = models.get(1)!.preprocessConfig;
    const plane = 3 * cfg.size * cfg.size;
    const x = new Float32Array(64 * plane);
    for (let i = 0; i < 64; i++)
      x.set(preprocess(await decodeImagePath(files[i % files.length]!, { autoOrient: false }), cfg), i * plane);
    const inferOnly = new Map<number, number[]>([
      [1, []],
      [2, []],
    ]);
    // One-thread preprocessing: decode alone and decode + resize + crop + normalize, same files.
    const decodeMs: number[] = [];
    const preMs: number[] = [];
    const pillow: { ms_per_image: number; decode_ms_per_image: number }[] = [];
    const listFile = path.join(work, 'files.txt');
    writeFileSync(listFile, `${files.join('\n')}\n`);
    const hasPillow =
      existsSync(PY) &&
      (() => {
        try {
          execFileSync(PY, ['-c', 'import PIL']);
          return true;
        } catch {
          return false;
        }
      })();
    const hasTorch =
      existsSync(PY) &&
      (() => {
        try {
          execFileSync(PY, ['-c', 'import torchvision']);
          return true;
        } catch {
          return false;
        }
      })();
    const torchLoader: { images_per_second: number; torch: string; torchvision: string }[] = [];
    const script = path.join(root, 'bench', 'validate_pytorch.py');

    // Warm pools: worker start-up (a one-off second or two) is not part of a rate.
    for (const c of configs) {
      c.pool = new SamplePool(c.workers);
      await runValidation(models.get(c.threads)!, index, targets, {
        batchSize: BATCH,
        workers: c.workers,
        count: 64,
        pool: c.pool,
      });
    }
    for (let r = 0; r < ROUNDS; r++) {
      process.stderr.write(`round ${r + 1}/${ROUNDS} (load ${load().join(' ')})\n`);
      for (const c of configs)
        c.runs.push(
          await runValidation(models.get(c.threads)!, index, targets, {
            batchSize: BATCH,
            workers: c.workers,
            pool: c.pool!,
          }),
        );
      // The data side alone: every batch through the same pool, as validate queues them, no inference.
      for (const c of configs) {
        const t0 = performance.now();
        const depth = Math.max(1, 2 * c.workers);
        const cfgFor = models.get(c.threads)!.preprocessConfig;
        const inFlight: Promise<unknown>[] = [];
        for (let lo = 0; lo < files.length; lo += BATCH) {
          const job = {
            kind: 'preprocess' as const,
            files: files.slice(lo, lo + BATCH),
            config: cfgFor,
            autoOrient: false,
          };
          inFlight.push(c.pool!.run(job));
          if (inFlight.length >= depth) await inFlight.shift();
        }
        await Promise.all(inFlight);
        c.preprocessAlone.push(files.length / ((performance.now() - t0) / 1000));
      }
      for (const [t, m] of models) {
        const t0 = performance.now();
        let n = 0;
        for (let k = 0; k < 4; k++)
          for (let b = 0; b < 2; b++) {
            await m.infer(x.subarray(b * 32 * plane, (b + 1) * 32 * plane), 32);
            n += 32;
          }
        inferOnly.get(t)!.push(n / ((performance.now() - t0) / 1000));
      }
      let dec = 0;
      let all = 0;
      for (const f of files) {
        const t0 = performance.now();
        const img = await decodeImagePath(f, { autoOrient: false });
        const t1 = performance.now();
        preprocess(img, cfg);
        const t2 = performance.now();
        dec += t1 - t0;
        all += t2 - t0;
      }
      decodeMs.push(dec / files.length);
      preMs.push(all / files.length);
      if (hasPillow)
        pillow.push(
          JSON.parse(
            execFileSync(PY, [script, 'pillow', listFile, '1'], { encoding: 'utf8' }),
          ) as (typeof pillow)[number],
        );
      if (hasTorch) {
        const out = execFileSync(PY, [script, 'loader', data, '2', String(BATCH), '1'], { encoding: 'utf8' });
        torchLoader.push(JSON.parse(out) as (typeof torchLoader)[number]);
      }
    }
    for (const m of models.values()) await m.dispose();
    for (const c of configs) await c.pool!.close();

    const rows = configs.map((c) => {
      const e2e = median(c.runs.map((r) => r.images_per_second));
      const infer = median(inferOnly.get(c.threads)!);
      const pre = median(c.preprocessAlone);
      const sharesCores = c.workers === 0 || (c.threads === cpus().length && c.workers === cpus().length);
      const bound = (infer * pre) / (infer + pre);
      return {
        config: c.label,
        ort_threads: c.threads,
        workers: c.workers,
        images_per_second: e2e,
        inference_images_per_second_overlapped: median(c.runs.map((r) => r.inference_images_per_second)),
        inference_only_images_per_second: infer,
        preprocess_only_images_per_second: pre,
        preprocess_images_per_second_overlapped: median(c.runs.map((r) => r.preprocess_images_per_second)),
        preprocess_ms_per_image_in_run: median(c.runs.map((r) => r.preprocess_ms_per_image)),
        ratio_to_min_of_inference_and_preprocess: e2e / Math.min(infer, pre),
        // Where the two stages cannot run on separate cores (0 workers: one after the other on
        // the main thread; or each alone already using every core), each image costs 1/I + 1/P
        // of the machine: end to end cannot pass I·P/(I+P). Other configs give each stage its own cores.
        shared_core_bound_images_per_second: sharesCores ? bound : null,
        ratio_to_shared_core_bound: sharesCores ? e2e / bound : null,
        rounds_images_per_second: c.runs.map((r) => r.images_per_second),
        top1: c.runs[0]!.top1,
      };
    });
    const oursMs = median(preMs);
    const pillowMs = pillow.length ? median(pillow.map((p) => p.ms_per_image)) : null;
    const result = {
      date: new Date().toISOString(),
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      loadavg_before: loadBefore,
      loadavg_after: load(),
      note: 'machine shared with other jobs during the run: figures are medians of interleaved rounds and noisy',
      images: files.length,
      image_size: '500x375 / 375x500 JPEG q90',
      batch_size: BATCH,
      rounds: ROUNDS,
      model: 'repghostnet_0_5x (golden deploy weights)',
      decoder: describeJpegDecoder(),
      resampler: wasmResampleAvailable() ? 'WebAssembly SIMD' : 'TypeScript',
      end_to_end: rows,
      preprocess_one_thread: {
        ours_ms_per_image: oursMs,
        ours_decode_ms_per_image: median(decodeMs),
        ours_resize_crop_normalize_ms_per_image: oursMs - median(decodeMs),
        pillow_ms_per_image: pillowMs,
        pillow_decode_ms_per_image: pillow.length ? median(pillow.map((p) => p.decode_ms_per_image)) : null,
        ratio_ours_to_pillow: pillowMs ? oursMs / pillowMs : null,
        // Same round, same files, one after the other: the spread of the ratio over rounds.
        ratio_ours_to_pillow_per_round: pillow.map((p, i) => preMs[i]! / p.ms_per_image),
        note:
          'ours includes normalization to float CHW; Pillow: open().convert("RGB"), resize shorter side to ' +
          '256 bilinear, crop 224',
      },
      pytorch_data_loader: torchLoader.length
        ? {
            images_per_second: median(torchLoader.map((t) => t.images_per_second)),
            workers: 2,
            batch_size: BATCH,
            torch: torchLoader[0]!.torch,
            torchvision: torchLoader[0]!.torchvision,
            note:
              'torchvision ImageFolder + DataLoader(2 workers), Resize 256 bilinear + CenterCrop 224 + ' +
              'ToTensor + Normalize; data side only, no model: PyTorch has no RepGhostNet without the ' +
              'official code',
          }
        : null,
    };
    writeFileSync(path.join(outDir, 'validate.json'), `${JSON.stringify(result, null, 2)}\n`);
    const f = (v: number | null, d = 1) => (v === null ? 'n/a' : v.toFixed(d));
    const md = [
      '# validate throughput (`npm run bench:validate`)',
      '',
      `${result.date}, ${result.cpu} (${result.cores} cores), load average ${loadBefore.join(' / ')} before, ` +
        `${result.loadavg_after.join(' / ')} after ` +
        '(shared machine: medians of interleaved rounds, noisy).',
      `${files.length} generated JPEGs (${result.image_size}), ${result.model}, batch ${BATCH}, ${ROUNDS} rounds.`,
      '',
      '| config | end to end img/s | inference alone img/s (I) | preprocessing alone img/s, all workers (P) | ' +
        'e2e / ' +
        'min(I, P) | bound I·P/(I+P) where the stages share cores | e2e / bound |',
      '|---|---:|---:|---:|---:|---:|---:|',
      ...rows.map(
        (r) =>
          `| ${r.config} | ${f(r.images_per_second)} | ${f(r.inference_only_images_per_second)} | ` +
          `${f(r.preprocess_only_images_per_second)} | ${f(r.ratio_to_min_of_inference_and_preprocess, 2)} | ` +
          `${f(r.shared_core_bound_images_per_second)} | ${f(r.ratio_to_shared_core_bound, 2)} |`,
      ),
      '',
      'I and P are each measured alone (inference on preprocessed batches; the data side through the same ' +
        'worker pool with no inference) on all the threads of the config, interleaved with the end-to-end runs. ' +
        'Where the stages cannot run on separate cores (0 workers: one after the other; or each alone using ' +
        'every core, ORT threads = workers = cores), each image costs 1/I + 1/P of the machine, so end to end ' +
        'cannot exceed I·P/(I+P), and e2e / min(I, P) can reach 1 only when one stage is much cheaper than the ' +
        'other.',
      '',
      `Decoding: ${result.decoder}; resampling: ${result.resampler}.`,
      '',
      '| preprocessing, one thread | ms / image |',
      '|---|---:|',
      `| ours: decode (libjpeg-turbo binding) | ${f(result.preprocess_one_thread.ours_decode_ms_per_image, 2)} |`,
      '| ours: resize + crop (WebAssembly SIMD) + normalize (TypeScript) | ' +
        `${f(result.preprocess_one_thread.ours_resize_crop_normalize_ms_per_image, 2)} |`,
      `| ours: total | ${f(oursMs, 2)} |`,
      `| Pillow ${pillow.length ? '' : '(not installed)'}: decode + resize + crop | ${f(pillowMs, 2)} (decode ` +
        `${f(result.preprocess_one_thread.pillow_decode_ms_per_image, 2)}) |`,
      `| ratio ours / Pillow | ${f(result.preprocess_one_thread.ratio_ours_to_pillow, 2)} (rounds: ` +
        `${result.preprocess_one_thread.ratio_ours_to_pillow_per_round.map((x) => f(x, 2)).join(', ')}) |`,
      '',
      result.pytorch_data_loader
        ? `PyTorch ${result.pytorch_data_loader.torch} / torchvision ${result.pytorch_data_loader.torchvision}: ` +
          `ImageFolder + DataLoader (2 workers, batch ${BATCH}) ` +
          `delivers ${f(result.pytorch_data_loader.images_per_second)} images/s of preprocessed tensors over the ` +
          'same folder. Data side only: PyTorch has no RepGhostNet without the official code (not copied here), ' +
          'so there is no PyTorch forward in this comparison.'
        : 'python3-torchvision not installed: no PyTorch data-loader figure.',
      '',
    ].join('\n');
    writeFileSync(path.join(outDir, 'validate.md'), md);
    process.stdout.write(md);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
