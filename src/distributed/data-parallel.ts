/**
 * The per-step collectives of data-parallel training, as PyTorch DDP does them for timm's
 * train.py: rank 0's BatchNorm buffers copied to every rank before each forward
 * (`broadcast_buffers=True`), and the gradients averaged over ranks in one flat buffer after
 * the backward pass. The sum is made identical on every rank (see allreduceIdentical), so
 * the same optimizer update keeps the parameters bit-identical everywhere.
 */
import { allreduceIdentical, type Communicator } from './communicator.js';

/** BatchNorm running statistics by layer, as ModelState keeps them. */
export interface BnBufferSet {
  readonly bn: ReadonlyMap<string, { mean: Float32Array; variance: Float32Array; numBatchesTracked: bigint }>;
}

/** Copies rank 0's BN running statistics (and counters) into every rank's buffers. */
export class BufferBroadcaster {
  private readonly flat: Float32Array;
  private readonly counts: BigInt64Array;

  constructor(
    private readonly comm: Communicator,
    private readonly model: BnBufferSet,
  ) {
    let n = 0;
    for (const b of model.bn.values()) n += b.mean.length + b.variance.length;
    this.flat = new Float32Array(n);
    this.counts = new BigInt64Array(model.bn.size);
  }

  broadcast(): void {
    if (this.comm.size === 1) return;
    let o = 0,
      k = 0;
    for (const b of this.model.bn.values()) {
      this.flat.set(b.mean, o);
      o += b.mean.length;
      this.flat.set(b.variance, o);
      o += b.variance.length;
      this.counts[k++] = b.numBatchesTracked;
    }
    this.comm.broadcast(this.flat, 0);
    this.comm.broadcast(this.counts, 0);
    o = 0;
    k = 0;
    for (const b of this.model.bn.values()) {
      b.mean.set(this.flat.subarray(o, o + b.mean.length));
      o += b.mean.length;
      b.variance.set(this.flat.subarray(o, o + b.variance.length));
      o += b.variance.length;
      b.numBatchesTracked = this.counts[k++]!;
    }
  }
}

/** What the averaged step gives the optimizer. */
export interface AveragedGradients {
  /** The averaged gradient of a parameter (a view of the flat buffer; graph layout). */
  grad(key: string): Float32Array;
  /** False when any rank's loss was not finite: then no rank applies the update. */
  finite: boolean;
}

/**
 * Averages gradients over ranks in one flat float32 buffer (the parameters in a fixed order,
 * then one slot counting ranks whose loss was not finite). Keeps the time spent in the
 * collective, for the step's allreduce share.
 */
export class GradientAverager {
  private readonly offsets = new Map<string, [number, number]>();
  readonly flat: Float32Array;
  /** Milliseconds spent in the collective since the last {@link takeMs}. */
  private ms = 0;

  constructor(
    private readonly comm: Communicator,
    params: readonly { key: string; size: number }[],
  ) {
    let o = 0;
    for (const p of params) {
      this.offsets.set(p.key, [o, o + p.size]);
      o += p.size;
    }
    this.flat = new Float32Array(o + 1);
  }

  /** Bytes moved into the collective per step (the gradient buffer). */
  get bytes(): number {
    return this.flat.byteLength;
  }

  /** Packs the local gradients, sums them over ranks, divides by the world size. */
  average(local: (key: string) => Float32Array, lossFinite: boolean): AveragedGradients {
    const flat = this.flat;
    for (const [key, [lo, hi]] of this.offsets) {
      const g = local(key);
      if (g.length !== hi - lo)
        throw new Error(`internal: gradient of '${key}' has ${g.length} values, expected ${hi - lo}`);
      flat.set(g, lo);
    }
    const flag = flat.length - 1;
    flat[flag] = lossFinite ? 0 : 1;
    const t0 = performance.now();
    allreduceIdentical(this.comm, flat);
    this.ms += performance.now() - t0;
    const finite = flat[flag] === 0;
    if (this.comm.size > 1) {
      const inv = 1 / this.comm.size;
      // Division by a power of two is exact; otherwise this is PyTorch's grad / world_size rounding.
      if ((this.comm.size & (this.comm.size - 1)) === 0) for (let i = 0; i < flag; i++) flat[i] = flat[i]! * inv;
      else for (let i = 0; i < flag; i++) flat[i] = flat[i]! / this.comm.size;
    }
    return {
      finite,
      grad: (key) => this.view(key),
    };
  }

  /** The slot of a parameter in the flat buffer (after {@link average}: its averaged gradient). */
  view(key: string): Float32Array {
    const r = this.offsets.get(key);
    if (!r) throw new Error(`internal: no gradient slot for '${key}'`);
    return this.flat.subarray(r[0], r[1]);
  }

  /** The collective's milliseconds since the last call. */
  takeMs(): number {
    const ms = this.ms;
    this.ms = 0;
    return ms;
  }
}

/** What {@link DataParallel} needs of a model (ModelState satisfies it). */
export interface ReplicatedModel extends BnBufferSet {
  readonly layouts: readonly { key: string; tfShape: readonly number[] }[];
  isTrainable(key: string): boolean;
  floatState(): Map<string, Float32Array>;
  setParam(key: string, values: Float32Array): void;
}

/**
 * One model replica of a data-parallel job: makes rank 0's weights everyone's, keeps BN
 * buffers in step with rank 0 before each forward, and averages each step's gradients.
 */
export class DataParallel {
  private readonly buffers: BufferBroadcaster;
  readonly gradients: GradientAverager;

  constructor(
    readonly comm: Communicator,
    private readonly model: ReplicatedModel,
  ) {
    this.buffers = new BufferBroadcaster(comm, model);
    const params = model.layouts
      .filter((p) => model.isTrainable(p.key))
      .map((p) => ({ key: p.key, size: p.tfShape.reduce((a, b) => a * b, 1) }));
    this.gradients = new GradientAverager(comm, params);
  }

  /** Rank 0's parameters and BN buffers into every rank (DDP's construction-time broadcast). */
  broadcastInitialState(): void {
    if (this.comm.size === 1) return;
    const state = this.model.floatState();
    let n = 0;
    for (const p of this.model.layouts) n += state.get(p.key)!.length;
    const flat = new Float32Array(n);
    let o = 0;
    for (const p of this.model.layouts) {
      flat.set(state.get(p.key)!, o);
      o += state.get(p.key)!.length;
    }
    this.comm.broadcast(flat, 0);
    o = 0;
    for (const p of this.model.layouts) {
      const len = state.get(p.key)!.length;
      if (this.comm.rank !== 0) this.model.setParam(p.key, flat.slice(o, o + len));
      o += len;
    }
    this.buffers.broadcast();
  }

  /** Before each forward: rank 0's BN running statistics everywhere (`broadcast_buffers=True`). */
  beforeForward(): void {
    this.buffers.broadcast();
  }

  /** The `reduceGradients` hook of trainStep. */
  readonly reduceGradients = (local: (key: string) => Float32Array, lossFinite: boolean): AveragedGradients =>
    this.gradients.average(local, lossFinite);
}

/**
 * timm's distribute_bn: BN running statistics made equal on every rank, either averaged
 * (`reduce`: summed then divided by the world size, in float32 as torch does) or rank 0's
 * (`broadcast`). One flat buffer for all of them.
 */
export function distributeBuffers(
  comm: Communicator,
  buffers: readonly Float32Array[],
  mode: 'reduce' | 'broadcast',
): void {
  if (comm.size === 1) return;
  const flat = new Float32Array(buffers.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of buffers) {
    flat.set(b, o);
    o += b.length;
  }
  if (mode === 'reduce') {
    allreduceIdentical(comm, flat);
    for (let i = 0; i < flat.length; i++) flat[i] = flat[i]! / comm.size;
  } else {
    comm.broadcast(flat, 0);
  }
  o = 0;
  for (const b of buffers) {
    b.set(flat.subarray(o, o + b.length));
    o += b.length;
  }
}
