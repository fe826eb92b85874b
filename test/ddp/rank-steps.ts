/**
 * mpirun entry for identical-ranks.test.ts: a few data-parallel SGD steps with different
 * random data on every rank, then one line per rank with a hash of its parameters' bits.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import { DataParallel } from '../../src/distributed/data-parallel.js';
import { joinWorld } from '../../src/distributed/mpi.js';
import { buildSpec } from '../../src/spec/index.js';
import { initTrainingBackend } from '../../src/train/backend.js';
import { liveView } from '../../src/train/kernels/typed-io.js';
import { Rng } from '../../src/train/rng.js';
import { Sgd } from '../../src/train/sgd.js';
import { ModelState } from '../../src/train/state.js';
import { trainStep } from '../../src/train/train-step.js';

const comm = joinWorld();
if (!comm) throw new Error('run under mpirun');
await initTrainingBackend({ backend: 'wasm', threads: 1 });
const spec = buildSpec('repghostnet_0_5x', { numClasses: 4, dropout: 0 });
const model = ModelState.init(spec, new Rng(100 + comm.rank)); // different on purpose: rank 0's must win
const sgd = new Sgd(model.layouts, { momentum: 0.9, weightDecay: 1e-5, nesterov: true });
const ddp = new DataParallel(comm, model);
ddp.broadcastInitialState();
const rng = new Rng(7 + comm.rank);
for (let s = 0; s < 3; s++) {
  const x = tf.tensor4d(
    Float32Array.from({ length: 2 * 32 * 32 * 3 }, () => rng.uniform() * 2 - 1),
    [2, 32, 32, 3],
  );
  const y = tf.tensor1d(Int32Array.from([rng.int(4), rng.int(4)]), 'int32');
  ddp.beforeForward();
  trainStep(model, sgd, { x, y, lr: 0.1, smoothing: 0.1, reduceGradients: ddp.reduceGradients });
  tf.dispose([x, y]);
}
const h = createHash('sha256');
for (const p of model.layouts) {
  const v = liveView(model.variables.get(p.key)!);
  h.update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
}
process.stdout.write(`rank ${comm.rank} of ${comm.size} params ${h.digest('hex')}\n`);
comm.barrier();
comm.finalize();
