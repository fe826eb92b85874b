/**
 * Replacements for backend kernels a training step calls most:
 * - BatchMatMul (1x1 convs, classifier and their gradients), Conv2D (the stem),
 *   DepthwiseConv2dNative and same-shape Add (residuals, gradient sums) run on the
 *   native kernels when those are loaded and cover the case, and otherwise
 *   call the backend's original kernel unchanged;
 * - Identity shares the input's storage (reference-counted, as tfjs-backend-cpu does)
 *   instead of copying it: tfjs clones every tensor it saves for the backward pass
 *   (~900 per step of 0.5x), and tfjs-backend-wasm's Identity copies the data each time.
 *   Sharing is safe because tensors are immutable here: no kernel of this package
 *   writes into an input, and the optimizer assigns new tensors to variables.
 */
import { backend_util, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs';
import { convGeometry, depthwiseGeometry } from './conv-backprop.js';
import { nativeKernels, type NativeKernels } from './native.js';
import { KernelIO } from './typed-io.js';

function batchMatMul(original: KernelFunc): KernelFunc {
  return (args) => {
    const native = nativeKernels();
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    if (
      !native ||
      a.dtype !== 'float32' ||
      b.dtype !== 'float32' ||
      a.shape.length < 2 ||
      b.shape.length < 2 ||
      util.sizeFromShape(a.shape.slice(0, -2)) !== 1 ||
      util.sizeFromShape(b.shape.slice(0, -2)) !== 1
    )
      return original(args);
    const [ar, ac] = a.shape.slice(-2) as [number, number];
    const [br, bc] = b.shape.slice(-2) as [number, number];
    const [m, k] = transposeA ? [ac, ar] : [ar, ac];
    const [k2, n] = transposeB ? [bc, br] : [br, bc];
    if (k !== k2) return original(args);
    const io = new KernelIO(args.backend);
    const batchDims = a.shape.length >= b.shape.length ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
    const out = io.alloc([...batchDims, m, n]);
    native.gemm(io.view(a), io.view(b), io.view(out), m, n, k, transposeA, transposeB);
    return out;
  };
}

/**
 * A conv forward (dense or depthwise) on the native kernels when they cover it: NHWC
 * float32, a geometry `geometryOf` accepts; otherwise the backend's original kernel.
 */
function convForward(
  original: KernelFunc,
  depthwise: boolean,
  geometryOf: (info: backend_util.Conv2DInfo) => number[] | null,
  run: (native: NativeKernels, x: Float32Array, w: Float32Array, geometry: number[], y: Float32Array) => void,
): KernelFunc {
  return (args) => {
    const native = nativeKernels();
    const { x, filter } = args.inputs as { x: TensorInfo; filter: TensorInfo };
    const attrs = args.attrs as unknown as {
      strides: [number, number] | number;
      pad: 'same';
      dilations?: [number, number] | number;
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      dataFormat?: string;
    };
    if (!native || x.dtype !== 'float32' || (attrs.dataFormat !== undefined && attrs.dataFormat !== 'NHWC'))
      return original(args);
    const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      attrs.strides,
      attrs.dilations ?? 1,
      attrs.pad,
      attrs.dimRoundingMode,
      depthwise,
    );
    const geometry = geometryOf(info);
    if (!geometry) return original(args);
    const io = new KernelIO(args.backend);
    const out = io.alloc(info.outShape);
    run(native, io.view(x), io.view(filter), geometry, io.view(out));
    return out;
  };
}

const depthwiseConv = (original: KernelFunc): KernelFunc =>
  convForward(original, true, depthwiseGeometry, (n, x, w, g, y) => n.dwForward(x, w, g, y));
const conv = (original: KernelFunc): KernelFunc =>
  convForward(original, false, convGeometry, (n, x, w, g, y) => n.convForward(x, w, g, y));

/** Same-shape float32 addition (residuals, gradient accumulation); broadcasting goes to the original. */
function add(original: KernelFunc): KernelFunc {
  return (args) => {
    const native = nativeKernels();
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    if (
      !native ||
      a.dtype !== 'float32' ||
      b.dtype !== 'float32' ||
      a.shape.length !== b.shape.length ||
      a.shape.some((d, i) => d !== b.shape[i]) ||
      util.sizeFromShape(a.shape) < 4096
    )
      return original(args);
    const io = new KernelIO(args.backend);
    const out = io.alloc(a.shape);
    native.add(io.view(a), io.view(b), io.view(out));
    return out;
  };
}

function sharedIdentity(original: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const backend = args.backend as { incRef?(dataId: object): void };
    if (x.dtype === 'string' || typeof backend.incRef !== 'function') return original(args);
    backend.incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  };
}

const WRAPPERS: Record<string, (original: KernelFunc) => KernelFunc> = {
  Add: add,
  BatchMatMul: batchMatMul,
  Conv2D: conv,
  DepthwiseConv2dNative: depthwiseConv,
  Identity: sharedIdentity,
};

/**
 * Configs replacing `backendName`'s Add, BatchMatMul, Conv2D, DepthwiseConv2dNative
 * and Identity with the wrappers above, given the backend's registered originals.
 */
export function overrideKernels(
  backendName: string,
  original: (kernelName: string) => KernelConfig | undefined,
): KernelConfig[] {
  const configs: KernelConfig[] = [];
  for (const [kernelName, wrap] of Object.entries(WRAPPERS)) {
    const o = original(kernelName);
    if (o) configs.push({ ...o, backendName, kernelFunc: wrap(o.kernelFunc) });
  }
  return configs;
}
