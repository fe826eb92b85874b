/**
 * Gradient kernels that tfjs-backend-wasm 4.22 lacks: `Conv2DBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropInput` and `DepthwiseConv2dNativeBackpropFilter`.
 * Registered for the wasm backend so `tf.conv2d` / `tf.depthwiseConv2d` gradients
 * (and so autograd) work there unchanged. NHWC only, dilation 1, any stride and
 * (explicit or named) padding, as computed by tfjs's own `computeConv2DInfo`.
 *
 * The conv filter gradient is a matrix product (x^T dy for 1x1 convs, im2col^T dy
 * otherwise) run by the backend's SIMD BatchMatMul; the depthwise ones are TypeScript
 * loops that accumulate in float64 (their batch x height x width sums are the longest
 * reductions of a step). The depthwise input gradient at stride 1 is the backend's
 * own depthwise conv with the filter rotated by 180 degrees.
 */
import { backend_util, type KernelConfig, type KernelFunc, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs';
import { nativeKernels } from './native.js';
import { registeredKernel } from './tf-internal.js';
import { KernelIO } from './typed-io.js';

type ConvInfo = backend_util.Conv2DInfo;

function nhwcOnly(attrs: NamedAttrMap | undefined, kernel: string): void {
  const f = attrs?.dataFormat as string | undefined;
  if (f !== undefined && f !== 'NHWC' && f !== 'channelsLast')
    throw new Error(`${kernel}: only NHWC is supported, got ${f}`);
}

/** Valid output-index range [lo, hi) whose tap `k` lands inside the input, for one axis. */
function outRange(k: number, pad: number, stride: number, inSize: number, outSize: number): [number, number] {
  const lo = Math.max(0, Math.ceil((pad - k) / stride));
  const hi = Math.min(outSize, Math.floor((inSize - 1 + pad - k) / stride) + 1);
  return [lo, hi];
}

/** The geometry fields both native conv kernels take, in their order. */
function sharedGeometry(c: ConvInfo): number[] {
  return [
    c.batchSize,
    c.inHeight,
    c.inWidth,
    c.inChannels,
    c.outHeight,
    c.outWidth,
    c.filterHeight,
    c.filterWidth,
    c.strideHeight,
    c.strideWidth,
    c.padInfo.top,
    c.padInfo.left,
  ];
}

/**
 * The native kernels' depthwise geometry for a conv info, or null when they do not
 * cover it (channel multiplier other than 1, dilation).
 */
export function depthwiseGeometry(c: ConvInfo): number[] | null {
  if (c.outChannels !== c.inChannels || c.dilationHeight !== 1 || c.dilationWidth !== 1) return null;
  return sharedGeometry(c);
}

/** The native kernels' dense-conv geometry for a conv info, or null for dilated convs. */
export function convGeometry(c: ConvInfo): number[] | null {
  if (c.dilationHeight !== 1 || c.dilationWidth !== 1) return null;
  return [...sharedGeometry(c), c.outChannels];
}

/** dW[kh,kw,ci,co] = sum over b,oh,ow of x[b,ih,iw,ci] * dy[b,oh,ow,co]. */
export function conv2dFilterGrad(x: Float32Array, dy: Float32Array, c: ConvInfo): Float64Array {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW, outChannels: CO } = c;
  const { strideHeight: sh, strideWidth: sw, filterHeight: KH, filterWidth: KW } = c;
  const top = c.padInfo.top,
    left = c.padInfo.left;
  const acc = new Float64Array(KH * KW * CI * CO);
  for (let kh = 0; kh < KH; kh++) {
    const [oh0, oh1] = outRange(kh, top, sh, H, OH);
    for (let kw = 0; kw < KW; kw++) {
      const [ow0, ow1] = outRange(kw, left, sw, W, OW);
      const tapBase = (kh * KW + kw) * CI * CO;
      for (let b = 0; b < B; b++) {
        for (let oh = oh0; oh < oh1; oh++) {
          const ih = oh * sh - top + kh;
          for (let ow = ow0; ow < ow1; ow++) {
            const iw = ow * sw - left + kw;
            const xb = ((b * H + ih) * W + iw) * CI;
            const yb = ((b * OH + oh) * OW + ow) * CO;
            for (let ci = 0; ci < CI; ci++) {
              const xv = x[xb + ci]!;
              if (xv === 0) continue; // post-ReLU inputs are often zero
              const ab = tapBase + ci * CO;
              for (let co = 0; co < CO; co++) acc[ab + co]! += xv * dy[yb + co]!;
            }
          }
        }
      }
    }
  }
  return acc;
}

/** Largest im2col buffer (elements) the filter gradient builds before falling back to the loop. */
const MAX_IM2COL = 32 * 1024 * 1024;

/**
 * Writes the transposed im2col matrix of an NHWC input: row (kh, kw, ci), column
 * (b, oh, ow), zero where the window reaches into the padding.
 */
export function im2colTransposed(x: Float32Array, c: ConvInfo, col: Float32Array): void {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: CI, outHeight: OH, outWidth: OW } = c;
  const { strideHeight: sh, strideWidth: sw, filterHeight: KH, filterWidth: KW } = c;
  const top = c.padInfo.top,
    left = c.padInfo.left;
  const rows = B * OH * OW;
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      for (let ci = 0; ci < CI; ci++) {
        const base = ((kh * KW + kw) * CI + ci) * rows;
        let r = 0;
        for (let b = 0; b < B; b++) {
          for (let oh = 0; oh < OH; oh++) {
            const ih = oh * sh - top + kh;
            const rowOk = ih >= 0 && ih < H;
            const xRow = (b * H + ih) * W;
            for (let ow = 0; ow < OW; ow++, r++) {
              const iw = ow * sw - left + kw;
              col[base + r] = rowOk && iw >= 0 && iw < W ? x[(xRow + iw) * CI + ci]! : 0;
            }
          }
        }
      }
    }
  }
}

/**
 * Depthwise filter gradient, filter [kh, kw, C, mult]: output channel d2 = c * mult + m.
 * For mult 1, products accumulate per tap into a row accumulator [OW, C] (a
 * contiguous inner loop V8 runs fast), reduced over the row at the end.
 */
export function depthwiseFilterGrad(x: Float32Array, dy: Float32Array, c: ConvInfo): Float64Array {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: CO } = c;
  const { strideHeight: sh, strideWidth: sw, filterHeight: KH, filterWidth: KW } = c;
  const top = c.padInfo.top,
    left = c.padInfo.left;
  const mult = CO / C;
  const out = new Float64Array(KH * KW * CO);
  if (mult !== 1) {
    for (let kh = 0; kh < KH; kh++) {
      const [oh0, oh1] = outRange(kh, top, sh, H, OH);
      for (let kw = 0; kw < KW; kw++) {
        const [ow0, ow1] = outRange(kw, left, sw, W, OW);
        const ab = (kh * KW + kw) * CO;
        for (let b = 0; b < B; b++) {
          for (let oh = oh0; oh < oh1; oh++) {
            const ih = oh * sh - top + kh;
            for (let ow = ow0; ow < ow1; ow++) {
              const xb = ((b * H + ih) * W + ow * sw - left + kw) * C;
              const yb = ((b * OH + oh) * OW + ow) * CO;
              for (let d2 = 0; d2 < CO; d2++) out[ab + d2]! += x[xb + Math.floor(d2 / mult)]! * dy[yb + d2]!;
            }
          }
        }
      }
    }
    return out;
  }
  const rowLen = OW * C;
  const acc = new Float64Array(KH * KW * rowLen);
  const colRange = Array.from({ length: KW }, (_, kw) => outRange(kw, left, sw, W, OW));
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      const yRow = (b * OH + oh) * rowLen;
      for (let kh = 0; kh < KH; kh++) {
        const ih = oh * sh - top + kh;
        if (ih < 0 || ih >= H) continue;
        const xRow = (b * H + ih) * W;
        for (let kw = 0; kw < KW; kw++) {
          const [ow0, ow1] = colRange[kw]!;
          const a = (kh * KW + kw) * rowLen;
          if (sw === 1) {
            const xs = (xRow + ow0 - left + kw) * C - ow0 * C;
            for (let j = ow0 * C, end = ow1 * C; j < end; j++) acc[a + j]! += x[xs + j]! * dy[yRow + j]!;
          } else {
            for (let ow = ow0; ow < ow1; ow++) {
              const xs = (xRow + ow * sw - left + kw) * C;
              const j0 = ow * C;
              for (let ch = 0; ch < C; ch++) acc[a + j0 + ch]! += x[xs + ch]! * dy[yRow + j0 + ch]!;
            }
          }
        }
      }
    }
  }
  for (let t = 0; t < KH * KW; t++) {
    for (let ow = 0; ow < OW; ow++) {
      const a = t * rowLen + ow * C;
      for (let ch = 0; ch < C; ch++) out[t * C + ch]! += acc[a + ch]!;
    }
  }
  return out;
}

/** Depthwise input gradient: scatters dy through the filter taps. `dx` must be zeroed. */
export function depthwiseInputGrad(dy: Float32Array, w: Float32Array, c: ConvInfo, dx: Float32Array): void {
  const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, outChannels: CO } = c;
  const { strideHeight: sh, strideWidth: sw, filterHeight: KH, filterWidth: KW } = c;
  const top = c.padInfo.top,
    left = c.padInfo.left;
  const mult = CO / C;
  for (let b = 0; b < B; b++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const yb = ((b * OH + oh) * OW + ow) * CO;
        for (let kh = 0; kh < KH; kh++) {
          const ih = oh * sh - top + kh;
          if (ih < 0 || ih >= H) continue;
          for (let kw = 0; kw < KW; kw++) {
            const iw = ow * sw - left + kw;
            if (iw < 0 || iw >= W) continue;
            const xb = ((b * H + ih) * W + iw) * C;
            const wb = (kh * KW + kw) * CO;
            if (mult === 1) {
              for (let ch = 0; ch < C; ch++) dx[xb + ch]! += dy[yb + ch]! * w[wb + ch]!;
            } else {
              for (let d2 = 0; d2 < CO; d2++) dx[xb + Math.floor(d2 / mult)]! += dy[yb + d2]! * w[wb + d2]!;
            }
          }
        }
      }
    }
  }
}

/**
 * Conv2DBackpropFilter for `backendName`: the matrix product x^T dy over all pixels
 * for a 1x1, stride-1, unpadded conv (x viewed as [pixels, CI], no copy besides the
 * transpose), im2col^T dy otherwise, on the backend's own BatchMatMul; the float64
 * loop when the backend has no BatchMatMul or the im2col buffer would be huge.
 */
function conv2DBackpropFilter(backendName: string): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    nhwcOnly(attrs, 'Conv2DBackpropFilter');
    const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
    const { strides, pad, dimRoundingMode, filterShape } = attrs as unknown as {
      strides: [number, number] | number;
      pad: 'same';
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      filterShape: [number, number, number, number];
    };
    const info = backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
      false,
      'channelsLast',
    );
    const p = info.padInfo;
    const pointwise =
      info.filterHeight === 1 &&
      info.filterWidth === 1 &&
      info.strideHeight === 1 &&
      info.strideWidth === 1 &&
      p.top === 0 &&
      p.left === 0 &&
      p.bottom === 0 &&
      p.right === 0;
    const native = nativeKernels();
    const geometry = convGeometry(info);
    if (native && geometry) {
      const io = new KernelIO(backend);
      const out = io.alloc(filterShape);
      if (pointwise) {
        // x viewed as [pixels, CI]: dW = x^T dy in one threaded product, no transpose copy.
        const rows = info.batchSize * info.inHeight * info.inWidth;
        native.gemm(io.view(x), io.view(dy), io.view(out), info.inChannels, info.outChannels, rows, true, false);
      } else {
        native.convFilterGrad(io.view(x), io.view(dy), geometry, io.view(out));
      }
      return out;
    }
    const matMulKernel = registeredKernel('BatchMatMul', backendName);
    const matMul = pointwise ? matMulKernel : undefined;
    const transpose = pointwise ? registeredKernel('Transpose', backendName) : undefined;
    if (matMul && transpose) {
      // x^T is transposed explicitly: the wasm BatchMatMul is ~10x slower with transposeA.
      const rows = info.batchSize * info.inHeight * info.inWidth;
      const x2: TensorInfo = { dataId: x.dataId, shape: [rows, info.inChannels], dtype: 'float32' };
      const xT = transpose.kernelFunc({ inputs: { x: x2 }, backend, attrs: { perm: [1, 0] } }) as TensorInfo;
      const a: TensorInfo = { dataId: xT.dataId, shape: [1, info.inChannels, rows], dtype: 'float32' };
      const b: TensorInfo = { dataId: dy.dataId, shape: [1, rows, info.outChannels], dtype: 'float32' };
      const out = matMul.kernelFunc({
        inputs: { a, b },
        backend,
        attrs: { transposeA: false, transposeB: false },
      }) as TensorInfo;
      (backend as { disposeData(id: object): void }).disposeData(xT.dataId);
      return { dataId: out.dataId, shape: filterShape, dtype: 'float32' };
    }
    const io = new KernelIO(backend);
    const rows = info.batchSize * info.outHeight * info.outWidth;
    const taps = info.filterHeight * info.filterWidth * info.inChannels;
    if (matMulKernel && taps * rows <= MAX_IM2COL) {
      // im2col^T [taps, rows] in TypeScript, then one backend matmul with dy [rows, CO]:
      // the product is the filter gradient [kh, kw, ci, co] as is.
      const colInfo = io.alloc([1, taps, rows]);
      im2colTransposed(io.view(x), info, io.view(colInfo));
      const b: TensorInfo = { dataId: dy.dataId, shape: [1, rows, info.outChannels], dtype: 'float32' };
      const out = matMulKernel.kernelFunc({
        inputs: { a: colInfo, b },
        backend,
        attrs: { transposeA: false, transposeB: false },
      }) as TensorInfo;
      (backend as { disposeData(id: object): void }).disposeData(colInfo.dataId);
      return { dataId: out.dataId, shape: filterShape, dtype: 'float32' };
    }
    const out = io.alloc(filterShape);
    const acc = conv2dFilterGrad(io.view(x), io.view(dy), info);
    io.view(out).set(acc);
    return out;
  };
}

type Pads = [[number, number], [number, number], [number, number], [number, number]];

/** Runs another kernel of the same backend by name on TensorInfos (no tape, no engine tensors). */
function callKernel(
  backendName: string,
  name: string,
  backend: object,
  inputs: Record<string, TensorInfo>,
  attrs: NamedAttrMap,
): TensorInfo {
  const k = registeredKernel(name, backendName);
  if (!k) throw new Error(`internal: kernel ${name} missing on ${backendName}`);
  return k.kernelFunc({ inputs, backend, attrs }) as TensorInfo;
}

function dispose(backend: object, ...infos: TensorInfo[]): void {
  for (const t of infos) (backend as { disposeData(id: object): void }).disposeData(t.dataId);
}

/**
 * Depthwise filter gradient in TypeScript. (Measured: composing it from the backend's
 * depthwise conv, with (n, c) as channels and dy as a large filter, or from per-tap
 * multiply + sum kernels, is slower on tfjs-backend-wasm than this loop.)
 */
const depthwiseBackpropFilter: KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dimRoundingMode, filterShape, dilations } = attrs as unknown as {
    strides: [number, number] | number;
    pad: 'same';
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
    dilations?: [number, number] | number;
  };
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    dilations ?? 1,
    pad,
    dimRoundingMode,
    true,
  );
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1)
    throw new Error('DepthwiseConv2dNativeBackpropFilter: dilation must be 1');
  const io = new KernelIO(backend);
  const out = io.alloc(filterShape);
  const native = nativeKernels();
  const geometry = depthwiseGeometry(info);
  if (native && geometry) {
    native.dwFilterGrad(io.view(x), io.view(dy), geometry, io.view(out));
    return out;
  }
  const acc = depthwiseFilterGrad(io.view(x), io.view(dy), info);
  io.view(out).set(acc);
  return out;
};

/**
 * Depthwise input gradient. Stride 1: a depthwise conv of dy with the filter rotated
 * by 180 degrees and the complementary padding, on the backend's own kernel. Other
 * strides: the scatter loop.
 */
function depthwiseBackpropInput(backendName: string): KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const { strides, pad, dimRoundingMode, inputShape, dilations } = attrs as unknown as {
      strides: [number, number] | number;
      pad: 'same';
      dimRoundingMode?: 'floor' | 'round' | 'ceil';
      inputShape: [number, number, number, number];
      dilations?: [number, number] | number;
    };
    const info = backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      strides,
      dilations ?? 1,
      pad,
      dimRoundingMode,
      true,
    );
    if (info.dilationHeight !== 1 || info.dilationWidth !== 1)
      throw new Error('DepthwiseConv2dNativeBackpropInput: dilation must be 1');
    const io = new KernelIO(backend);
    const native = nativeKernels();
    const geometry = depthwiseGeometry(info);
    if (native && geometry) {
      const dxInfo = io.alloc(inputShape);
      native.dwInputGrad(io.view(dy), io.view(filter), geometry, io.view(dxInfo));
      return dxInfo;
    }
    const { filterHeight: KH, filterWidth: KW, outChannels: CO, inChannels: C, padInfo: p } = info;
    if (
      info.strideHeight === 1 &&
      info.strideWidth === 1 &&
      CO === C &&
      registeredKernel('DepthwiseConv2dNative', backendName)
    ) {
      const rotated = io.alloc([KH, KW, C, 1]);
      const w = io.view(filter),
        r = io.view(rotated);
      for (let t = 0; t < KH * KW; t++) r.set(w.subarray((KH * KW - 1 - t) * C, (KH * KW - t) * C), t * C);
      const pads: Pads = [
        [0, 0],
        [KH - 1 - p.top, KH - 1 - p.bottom],
        [KW - 1 - p.left, KW - 1 - p.right],
        [0, 0],
      ];
      const dx = callKernel(
        backendName,
        'DepthwiseConv2dNative',
        backend,
        { x: dy, filter: rotated },
        {
          strides: [1, 1],
          dilations: [1, 1],
          pad: pads,
          dimRoundingMode: undefined as unknown as string,
        },
      );
      dispose(backend, rotated);
      return dx;
    }
    const out = io.alloc(inputShape);
    const dx = io.view(out);
    dx.fill(0);
    depthwiseInputGrad(io.view(dy), io.view(filter), info, dx);
    return out;
  };
}

/** The gradient kernels above, for a backend that lacks them (tfjs-backend-wasm). */
export function convGradKernels(backendName: string): KernelConfig[] {
  return [
    { kernelName: 'Conv2DBackpropFilter', backendName, kernelFunc: conv2DBackpropFilter(backendName) },
    { kernelName: 'DepthwiseConv2dNativeBackpropFilter', backendName, kernelFunc: depthwiseBackpropFilter },
    { kernelName: 'DepthwiseConv2dNativeBackpropInput', backendName, kernelFunc: depthwiseBackpropInput(backendName) },
  ];
}
