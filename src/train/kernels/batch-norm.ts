/**
 * Fused train-mode BatchNorm (+ optional addend z, + optional ReLU) over NHWC
 * tensors: y = relu?(BN(x) + z?). BN is PyTorch's
 * `BatchNorm2d` computes it in training mode: batch mean and biased variance over
 * N, H, W per channel, y = x * (gamma * invstd) + (beta - mean * gamma * invstd)
 * (the CPU kernel's own folding), invstd = 1 / sqrt(var + eps).
 *
 * One kernel forward and one backward instead of the ~20 small tfjs ops a composed
 * BN costs on the tape: BN is the most frequent layer of the network (112 in 0.5x).
 * Statistics accumulate in float64 (two passes), so they are at least as exact as
 * PyTorch's. The kernel also returns the batch mean and biased variance so the
 * caller can update running statistics.
 */
import { clone } from '@tensorflow/tfjs';
import { allreduceIdentical, type Communicator } from '../../distributed/communicator.js';
import {
  ENGINE_KERNELS,
  type GradConfig,
  type KernelConfig,
  type KernelFunc,
  type NamedAttrMap,
  type NamedTensorMap,
  type Tensor,
  type TensorInfo,
} from './tf-internal.js';
import { nativeKernels } from './native.js';
import { KernelIO } from './typed-io.js';

export const BN_TRAIN = 'RepghostBatchNormTrain';
export const BN_TRAIN_GRAD = 'RepghostBatchNormTrainGrad';

/**
 * Synchronized BatchNorm (timm's --sync-bn, torch's SyncBatchNorm): while set, every
 * train-mode BN of this process normalizes with the statistics of the global batch of all
 * ranks, and its backward pass uses the global gradient sums (the gamma / beta gradients
 * stay local: the data-parallel step averages them like every other gradient). Runs on the
 * TypeScript path of the kernel, whose statistics are float64 sums that can be combined.
 */
export interface BatchNormSync {
  comm: Communicator;
  /** Global over local elements per channel of the last forward (for the unbiased running variance). */
  countRatio?: number;
}

let sync: BatchNormSync | null = null;

/** Turns synchronized BatchNorm on (with the job's communicator) or off (null). */
export function setBatchNormSync(s: { comm: Communicator } | null): void {
  sync = s && s.comm.size > 1 ? { comm: s.comm } : null;
}

/** Global over local batch elements of the last synchronized forward (1 when BN is not synchronized). */
export function batchNormCountRatio(): number {
  return sync?.countRatio ?? 1;
}

/** Global mean and biased variance from this rank's float64 moments over M elements per channel. */
function globalMoments(
  s: BatchNormSync,
  mean: Float64Array,
  variance: Float64Array,
  M: number,
): { mean: Float64Array; variance: Float64Array } {
  const C = mean.length;
  const sums = new Float64Array(C + 1);
  for (let c = 0; c < C; c++) sums[c] = mean[c]! * M;
  sums[C] = M;
  allreduceIdentical(s.comm, sums);
  const total = sums[C];
  const gMean = new Float64Array(C);
  const squares = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    gMean[c] = sums[c]! / total;
    const d = mean[c]! - gMean[c]!;
    squares[c] = M * (variance[c]! + d * d); // this rank's sum of squares around the global mean
  }
  allreduceIdentical(s.comm, squares);
  for (let c = 0; c < C; c++) squares[c] = squares[c]! / total;
  s.countRatio = total / M;
  return { mean: gMean, variance: squares };
}

/** Options of the fused BN. */
export interface BnAttrs {
  eps: number;
  relu: boolean;
}

/** Kernel attributes: the options plus whether the addend `z` is an input. */
interface BnKernelAttrs extends NamedAttrMap {
  eps: number;
  relu: boolean;
  hasZ: boolean;
}

/**
 * Per-channel mean and biased variance (float64) of an NHWC array with C channels.
 * One strided pass per channel with the sums shifted by the channel's first value
 * (exact enough in float64) and two accumulators, which V8 runs several times faster
 * than an NHWC-order loop updating per-channel arrays.
 */
export function channelMoments(x: Float32Array, C: number): { mean: Float64Array; variance: Float64Array } {
  const n = x.length;
  const M = n / C;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  const step2 = 2 * C;
  for (let c = 0; c < C; c++) {
    const k = x[c]!;
    let s0 = 0,
      s1 = 0,
      q0 = 0,
      q1 = 0;
    let i = c;
    for (; i + C < n; i += step2) {
      const d0 = x[i]! - k,
        d1 = x[i + C]! - k;
      s0 += d0;
      q0 += d0 * d0;
      s1 += d1;
      q1 += d1 * d1;
    }
    if (i < n) {
      const d0 = x[i]! - k;
      s0 += d0;
      q0 += d0 * d0;
    }
    const s = s0 + s1;
    mean[c] = k + s / M;
    variance[c] = Math.max(0, (q0 + q1 - (s * s) / M) / M);
  }
  return { mean, variance };
}

/**
 * Per-channel sums of g and g * (x - mean) where g is dy, zeroed where the ReLU
 * output y is not positive (when `y` is given).
 */
function gradSums(
  dy: Float32Array,
  x: Float32Array,
  mean: Float32Array,
  y: Float32Array | null,
  C: number,
): { sumG: Float64Array; sumGX: Float64Array } {
  const n = x.length;
  const sumG = new Float64Array(C);
  const sumGX = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    const mu = mean[c]!;
    let s0 = 0,
      s1 = 0;
    if (y === null) {
      for (let i = c; i < n; i += C) {
        const g = dy[i]!;
        s0 += g;
        s1 += g * (x[i]! - mu);
      }
    } else {
      for (let i = c; i < n; i += C) {
        const g = dy[i]! * +(y[i]! > 0); // branch-free ReLU mask (see applyAffine)
        s0 += g;
        s1 += g * (x[i]! - mu);
      }
    }
    sumG[c] = s0;
    sumGX[c] = s1;
  }
  return { sumG, sumGX };
}

/**
 * y = relu?(x * alpha + shift (+ z)), per channel of NHWC data. ReLU is written
 * branch-free, (v + |v|) / 2 (exact, and +0 for negatives): V8 compiles a ternary to a
 * branch that mispredicts on half of the elements, several times the cost of the loop.
 */
function applyAffine(
  x: Float32Array,
  alpha: Float32Array,
  shift: Float32Array,
  z: Float32Array | null,
  relu: boolean,
  y: Float32Array,
  C: number,
): void {
  const n = x.length;
  if (z === null) {
    if (relu) {
      for (let i = 0; i < n; i += C)
        for (let c = 0; c < C; c++) {
          const v = x[i + c]! * alpha[c]! + shift[c]!;
          y[i + c] = 0.5 * (v + Math.abs(v));
        }
    } else {
      for (let i = 0; i < n; i += C) for (let c = 0; c < C; c++) y[i + c] = x[i + c]! * alpha[c]! + shift[c]!;
    }
    return;
  }
  // Rounded to float32 before the addend, as PyTorch's separate BN and add round.
  if (relu) {
    for (let i = 0; i < n; i += C)
      for (let c = 0; c < C; c++) {
        const v = Math.fround(Math.fround(x[i + c]! * alpha[c]! + shift[c]!) + z[i + c]!);
        y[i + c] = 0.5 * (v + Math.abs(v));
      }
  } else {
    for (let i = 0; i < n; i += C)
      for (let c = 0; c < C; c++) y[i + c] = Math.fround(x[i + c]! * alpha[c]! + shift[c]!) + z[i + c]!;
  }
}

const forward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, gamma, beta, z } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo; z?: TensorInfo };
  const { eps, relu } = attrs as BnKernelAttrs;
  const C = x.shape[x.shape.length - 1]!;
  const io = new KernelIO(backend);
  const yInfo = io.alloc(x.shape);
  const meanInfo = io.alloc([C]);
  const varInfo = io.alloc([C]);
  const xv = io.view(x),
    g = io.view(gamma),
    b = io.view(beta),
    y = io.view(yInfo);
  const zv = z ? io.view(z) : null;
  const native = nativeKernels();
  if (native && !sync) {
    native.bnForward(xv, C, g, b, zv, relu, eps, y, io.view(meanInfo), io.view(varInfo));
    return [yInfo, meanInfo, varInfo];
  }
  const local = channelMoments(xv, C);
  const { mean, variance } = sync ? globalMoments(sync, local.mean, local.variance, xv.length / C) : local;
  // PyTorch folds in float32: alpha = invstd * weight; beta' = bias - mean * alpha.
  const alpha = new Float32Array(C);
  const shift = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const invstd = Math.fround(1 / Math.sqrt(variance[c]! + eps));
    alpha[c] = Math.fround(invstd * g[c]!);
    shift[c] = Math.fround(b[c]! - Math.fround(mean[c]!) * alpha[c]!);
  }
  applyAffine(xv, alpha, shift, zv, relu, y, C);
  io.view(meanInfo).set(mean);
  io.view(varInfo).set(variance);
  return [yInfo, meanInfo, varInfo];
};

const backward: KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, x, gamma, mean, variance, y } = inputs as Record<string, TensorInfo>;
  const { eps, relu } = attrs as BnKernelAttrs;
  const C = x!.shape[x!.shape.length - 1]!;
  const io = new KernelIO(backend);
  const dxInfo = io.alloc(x!.shape);
  const dgInfo = io.alloc([C]);
  const dbInfo = io.alloc([C]);
  // The addend's gradient is the (ReLU-masked) dy: only a new tensor when masked.
  const dzInfo = attrs!.hasZ && relu ? io.alloc(x!.shape) : null;
  const dyv = io.view(dy!),
    xv = io.view(x!),
    g = io.view(gamma!),
    mu = io.view(mean!),
    va = io.view(variance!);
  const yv = relu ? io.view(y!) : null;
  const dx = io.view(dxInfo);
  const dz = dzInfo ? io.view(dzInfo) : null;
  const native = nativeKernels();
  if (native && !sync) {
    native.bnBackward(dyv, xv, C, g, mu, va, yv, eps, dx, io.view(dgInfo), io.view(dbInfo), dz);
    return dzInfo ? [dxInfo, dgInfo, dbInfo, dzInfo] : [dxInfo, dgInfo, dbInfo];
  }
  let M = xv.length / C;
  const local = gradSums(dyv, xv, mu, yv, C);
  let { sumG, sumGX } = local;
  const dgamma = new Float64Array(C);
  for (let c = 0; c < C; c++) dgamma[c] = local.sumGX[c]! / Math.sqrt(va[c]! + eps);
  const dbeta = local.sumG.slice();
  if (sync) {
    // dx needs the sums over the global batch (mean and variance were global); gamma and beta keep local sums.
    const sums = new Float64Array(2 * C + 1);
    sums.set(local.sumG, 0);
    sums.set(local.sumGX, C);
    sums[2 * C] = M;
    allreduceIdentical(sync.comm, sums);
    sumG = sums.slice(0, C);
    sumGX = sums.slice(C, 2 * C);
    M = sums[2 * C]!;
  }
  // dx = gamma * invstd * (g - mean(g) - (x - mean) * invstd^2 * mean(g * (x - mean)))
  //    = a[c] * g + b[c] * x + d[c], per channel constants folded once.
  const a = new Float32Array(C);
  const b = new Float32Array(C);
  const d = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const invstd = 1 / Math.sqrt(va[c]! + eps);
    const k1 = g[c]! * invstd;
    const k3 = (sumGX[c]! / M) * invstd * invstd;
    a[c] = k1;
    b[c] = -k1 * k3;
    d[c] = k1 * (mu[c]! * k3 - sumG[c]! / M);
  }
  const n = xv.length;
  if (yv === null) {
    for (let i = 0; i < n; i += C) {
      for (let c = 0; c < C; c++) dx[i + c] = a[c]! * dyv[i + c]! + b[c]! * xv[i + c]! + d[c]!;
    }
  } else if (dz === null) {
    for (let i = 0; i < n; i += C) {
      for (let c = 0; c < C; c++) dx[i + c] = a[c]! * (dyv[i + c]! * +(yv[i + c]! > 0)) + b[c]! * xv[i + c]! + d[c]!;
    }
  } else {
    for (let i = 0; i < n; i += C) {
      for (let c = 0; c < C; c++) {
        const m = dyv[i + c]! * +(yv[i + c]! > 0);
        dx[i + c] = a[c]! * m + b[c]! * xv[i + c]! + d[c]!;
        dz[i + c] = m;
      }
    }
  }
  io.view(dgInfo).set(dgamma);
  io.view(dbInfo).set(dbeta);
  return dzInfo ? [dxInfo, dgInfo, dbInfo, dzInfo] : [dxInfo, dgInfo, dbInfo];
};

/** Gradient of the fused forward: one call of the fused backward kernel. */
export const bnTrainGradConfig: GradConfig = {
  kernelName: BN_TRAIN,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [true, true, true],
  gradFunc: (dys, saved, attrs) => {
    const dy = (Array.isArray(dys) ? dys[0] : dys)!;
    const [x, gamma, y, mean, variance] = saved;
    const a = attrs as BnKernelAttrs;
    const [dx, dgamma, dbeta, dzMasked] = ENGINE_KERNELS.run(
      BN_TRAIN_GRAD,
      { dy, x: x!, gamma: gamma!, mean: mean!, variance: variance!, y: y! },
      a,
    );
    const grads: Record<string, () => Tensor> = { x: () => dx!, gamma: () => dgamma!, beta: () => dbeta! };
    if (a.hasZ) grads.z = () => dzMasked ?? clone(dy);
    return grads;
  },
};

/** Kernel configs of the fused BN for one backend (`wasm` or `cpu`). */
export function batchNormKernels(backendName: string): KernelConfig[] {
  return [
    { kernelName: BN_TRAIN, backendName, kernelFunc: forward },
    { kernelName: BN_TRAIN_GRAD, backendName, kernelFunc: backward },
  ];
}

/** Result of {@link batchNormTrain}: the output and the batch statistics (biased variance). */
export interface BnTrainResult {
  y: Tensor;
  mean: Tensor;
  variance: Tensor;
}

/**
 * Train-mode BatchNorm over the last axis of `x` (NHWC), plus `z` if given, then ReLU
 * if `attrs.relu`. Differentiable in x, gamma, beta and z; `mean` / `variance` (of x)
 * carry no gradient.
 */
export function batchNormTrain(x: Tensor, gamma: Tensor, beta: Tensor, attrs: BnAttrs, z?: Tensor): BnTrainResult {
  const inputs: NamedTensorMap = z ? { x, gamma, beta, z } : { x, gamma, beta };
  const kernelAttrs: BnKernelAttrs = { eps: attrs.eps, relu: attrs.relu, hasZ: z !== undefined };
  const [y, mean, variance] = ENGINE_KERNELS.run(BN_TRAIN, inputs, kernelAttrs);
  return { y: y!, mean: mean!, variance: variance! };
}
