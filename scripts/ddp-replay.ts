/**
 * Replays a data-parallel golden (shared/golden/ddp_step_*.safetensors: PyTorch DDP, timm's
 * train.py semantics) with repghost's data-parallel step. Run one process per rank:
 *
 *   mpirun -np 2 node --import tsx scripts/ddp-replay.ts <golden.safetensors> <outdir>
 *
 * Each rank reads only `init.*`, `input.r<R>.<s>` and `target.r<R>.<s>` (and the .json beside
 * the golden for the hyper-parameters), computes every gradient itself, and writes
 * `<outdir>/r<R>.safetensors`: `loss.<s>` (F32 [1]), `grad.0.<param>` (the averaged step-0
 * gradient the optimizer used, PyTorch layout) and `after.<key>` (the state dict after the
 * last step).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { DataParallel } from '../src/distributed/data-parallel.js';
import { joinWorld } from '../src/distributed/mpi.js';
import { writeFileAtomicSync } from '../src/node/atomic-write.js';
import { buildSpec } from '../src/spec/index.js';
import { initTrainingBackend } from '../src/train/backend.js';
import { tfToTorch, torchToTf } from '../src/train/layout.js';
import { Sgd } from '../src/train/sgd.js';
import { ModelState } from '../src/train/state.js';
import { nchwToNhwc } from '../src/train/tensor-utils.js';
import { trainStep } from '../src/train/train-step.js';
import { readSafetensors, writeSafetensors } from '../src/weights/safetensors.js';
import { f32, toFloat32, type StateDict } from '../src/weights/tensor.js';

interface GoldenConfig {
  model: string;
  num_classes: number;
  dropout: number;
  world_size: number;
  steps: number;
  lr: number;
  momentum: number;
  nesterov: boolean;
  weight_decay: number;
  smoothing: number;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  // --drive-step0: apply the golden's step-0 gradients instead of our own (isolates step 1, as the
  // single-process golden test does); the gradients written are still our own averaged ones.
  const drive = args.includes('--drive-step0');
  const [goldenPath, outDir] = args.filter((a) => a !== '--drive-step0');
  if (!goldenPath || !outDir) {
    console.error('usage: mpirun -np <world> node --import tsx scripts/ddp-replay.ts <golden.safetensors> <outdir>');
    process.exit(2);
  }
  const comm = joinWorld();
  if (!comm) {
    console.error(
      'ddp-replay: not started by mpirun (run it as mpirun -np <world> node --import tsx scripts/ddp-replay.ts ...)',
    );
    process.exit(2);
  }
  const config = JSON.parse(readFileSync(goldenPath.replace(/\.safetensors$/, '.json'), 'utf8')) as GoldenConfig;
  if (config.world_size !== comm.size) {
    console.error(`ddp-replay: ${goldenPath} was made with ${config.world_size} ranks; this job has ${comm.size}`);
    comm.abort(2);
  }
  await initTrainingBackend({ backend: 'wasm', threads: 1 });
  const golden = readSafetensors(new Uint8Array(readFileSync(goldenPath))).tensors;
  const R = comm.rank;
  const spec = buildSpec(config.model, { numClasses: config.num_classes, dropout: config.dropout });
  const init: StateDict = new Map();
  for (const [k, v] of golden) if (k.startsWith('init.')) init.set(k.slice(5), v);
  const model = ModelState.fromStateDict(spec, init);
  const sgd = new Sgd(model.layouts, {
    momentum: config.momentum,
    weightDecay: config.weight_decay,
    nesterov: config.nesterov,
  });
  const ddp = new DataParallel(comm, model);
  ddp.broadcastInitialState();

  const out: StateDict = new Map();
  for (let s = 0; s < config.steps; s++) {
    const input = golden.get(`input.r${R}.${s}`);
    const target = golden.get(`target.r${R}.${s}`);
    if (!input || !target) throw new Error(`${goldenPath} has no input.r${R}.${s} / target.r${R}.${s}`);
    const [n, c, h, w] = input.shape as [number, number, number, number];
    const x = tf.tensor4d(nchwToNhwc(toFloat32(input), input.shape), [n, h, w, c]);
    const y = tf.tensor1d(Int32Array.from(target.data as BigInt64Array, Number), 'int32');
    ddp.beforeForward();
    const overrideGrad =
      drive && s === 0
        ? (k: string): Float32Array =>
            torchToTf(
              model.layouts.find((p) => p.key === k)!,
              toFloat32(golden.get(`grad.0.${k}`)!),
            )
        : undefined;
    const result = trainStep(model, sgd, {
      x,
      y,
      lr: config.lr,
      smoothing: config.smoothing,
      reduceGradients: ddp.reduceGradients,
      overrideGrad,
    });
    tf.dispose([x, y]);
    if (!result.applied) throw new Error(`step ${s}: loss ${result.loss} is not finite`);
    out.set(`loss.${s}`, f32([1], [result.loss]));
    if (s === 0) {
      for (const p of model.layouts)
        out.set(`grad.0.${p.key}`, f32([...p.torchShape], tfToTorch(p, ddp.gradients.view(p.key))));
    }
  }
  for (const [k, v] of model.toStateDict()) out.set(`after.${k}`, v);
  mkdirSync(outDir, { recursive: true });
  writeFileAtomicSync(path.join(outDir, `r${R}.safetensors`), writeSafetensors(out));
  comm.barrier();
  comm.finalize();
}

main().catch((e: unknown) => {
  console.error(`ddp-replay: ${(e as Error).message}`);
  process.exit(1);
});
