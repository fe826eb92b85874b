// Training kernels of repghost (NHWC, float32), run by OpenMP threads on the caller's
// buffers (views into the tfjs wasm heap or cpu backend arrays): no copies in or out.
#pragma once
#include <cstdint>

namespace repghost {

/**
 * C[M,N] = op(A) op(B), row-major. op(A)[i,k] = A[i*lda + k] or, with transA,
 * A[k*lda + i]; op(B)[k,j] likewise with transB. C is overwritten.
 */
void gemm(const float* A, const float* B, float* C, int64_t M, int64_t N, int64_t K,
          bool transA, bool transB);

/** gemm on the calling thread only; adds into C when `accumulate` (for callers that thread themselves). */
void gemmSerial(const float* A, const float* B, float* C, int64_t M, int64_t N, int64_t K,
                bool transA, bool accumulate);

/** Geometry of a dense conv: NHWC input [B,H,W,CI], filter [KH,KW,CI,CO] (dilation 1). */
struct ConvGeom {
  int64_t B, H, W, CI, OH, OW, KH, KW, sh, sw, top, left, CO;
};

/** y = conv(x, w) (no bias), by im2col in chunks of output pixels + gemm. */
void convForward(const float* x, const float* w, const ConvGeom& g, float* y);
/** dW = im2col(x)^T dy, chunked, threads over pixels with private partial sums. */
void convFilterGrad(const float* x, const float* dy, const ConvGeom& g, float* dw);

/** Train-mode BN forward: y = relu?(x*alpha + shift (+ z)); batch mean, biased variance out. */
void bnForward(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta,
               const float* z, bool relu, double eps, float* y, float* meanOut, float* varOut);

/** Train-mode BN backward (y given = ReLU mask from the forward output; dz optional). */
void bnBackward(const float* dy, const float* x, int64_t rows, int64_t C, const float* gamma,
                const float* mean, const float* var, const float* y, double eps,
                float* dx, float* dgamma, float* dbeta, float* dz);

/** Geometry of a depthwise conv (multiplier 1), NHWC input [B,H,W,C], filter [KH,KW,C]. */
struct DwGeom {
  int64_t B, H, W, C, OH, OW, KH, KW, sh, sw, top, left;
};

/** dW[kh,kw,c] = sum x[b, oh*sh-top+kh, ow*sw-left+kw, c] * dy[b,oh,ow,c]. */
void dwFilterGrad(const float* x, const float* dy, const DwGeom& g, float* dw);
/** dx = transposed depthwise conv of dy (dx fully overwritten). */
void dwInputGrad(const float* dy, const float* w, const DwGeom& g, float* dx);
/** y = depthwise conv of x (no bias). */
void dwForward(const float* x, const float* w, const DwGeom& g, float* y);

/** out = a + b, elementwise over n floats (threaded for large n). */
void add(const float* a, const float* b, float* out, int64_t n);

/**
 * torch SGD (momentum, dampening, Nesterov, weight decay) on n parameters in place,
 * bit-identical to src/train/sgd.ts; `first` = no momentum buffer yet.
 */
void sgdStep(float* w, const float* g, float* buf, int64_t n, double lr, double wd, double m, double dampening,
             bool nesterov, bool first);
/** ema = fround(d * ema) + fround(c * cur), bit-identical to src/train/ema.ts. */
void emaUpdate(float* ema, const float* cur, int64_t n, double d, double c);

/** Sets the number of OpenMP threads kernels use. */
void setThreads(int n);
int getThreads();

}  // namespace repghost
