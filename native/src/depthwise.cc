// Depthwise convolution (channel multiplier 1, NHWC, any stride and padding, no
// dilation): forward, input gradient and filter gradient, in chunks of rows.
// Along a row the channels of consecutive pixels are contiguous, so at stride 1 the
// work per tap is one contiguous multiply-add of OW*C elements against the tap's
// weights repeated along the row ("wide" weights), which vectorizes fully even for
// the 8-channel layers.
#include <algorithm>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include "kernels.h"
#include "parallel.h"

namespace repghost {
namespace {

/** Output positions [lo, hi) along one axis whose tap `k` reads inside the input. */
inline void outRange(int64_t k, int64_t pad, int64_t stride, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
  const int64_t a = pad - k;
  lo = a <= 0 ? 0 : (a + stride - 1) / stride;
  const int64_t b = in - 1 + pad - k;
  hi = b < 0 ? 0 : std::min(out, b / stride + 1);
  if (hi < lo) hi = lo;
}

/** Each tap's C weights repeated `width` times: [KH*KW][width*C]. */
std::vector<float> wideWeights(const float* w, int64_t taps, int64_t C, int64_t width) {
  std::vector<float> wide(static_cast<size_t>(taps * width * C));
  for (int64_t t = 0; t < taps; t++)
    for (int64_t p = 0; p < width; p++) std::copy(w + t * C, w + (t + 1) * C, wide.begin() + (t * width + p) * C);
  return wide;
}

/** Output rows per chunk: ~16K floats of output or more. */
int64_t rowChunk(int64_t rows, int64_t rowLen) { return chunkLength(rows, std::max<int64_t>(1, 16384 / std::max<int64_t>(rowLen, 1))); }

/**
 * Stride-1 depthwise conv y[b,oh,ow,c] = sum x[b, oh-top+kh, ow-left+kw, c] w[kh,kw,c]
 * for any input/output sizes (so it also serves the input gradient, as a conv of dy
 * with the rotated filter). Input rows are copied once into zero-padded row buffers
 * (a ring of KH per chunk), so every tap reads a full contiguous row and the 64
 * outputs of a chunk accumulate in registers over all taps: one store per output
 * instead of a load and a store per tap.
 */
void dwStride1(const float* x, const float* w, int64_t B, int64_t H, int64_t W, int64_t C, int64_t OH, int64_t OW,
               int64_t KH, int64_t KW, int64_t top, int64_t left, float* y) {
  constexpr int64_t J = 64;
  const int64_t rowLen = OW * C, taps = KH * KW;
  const int64_t padLen = (OW + KW - 1) * C + J;  // J of slack for the last chunk's reads
  std::vector<float> wide = wideWeights(w, taps, C, OW);
  wide.resize(wide.size() + J, 0.f);
  const int64_t rows = B * OH;
  (void)taps;
  forChunks(rows, rowChunk(rows, rowLen), [&](int64_t, int64_t r0, int64_t r1) {
    std::vector<float> ring(static_cast<size_t>(KH * padLen));
    std::vector<int64_t> key(KH, -1);  // which (b, ih) each ring slot holds
    std::vector<const float*> src(KH);
    for (int64_t row = r0; row < r1; row++) {
      const int64_t b = row / OH, oh = row % OH;
      int64_t valid = 0;
      for (int64_t kh = 0; kh < KH; kh++) {
        const int64_t ih = oh - top + kh;
        if (ih < 0 || ih >= H) { src[kh] = nullptr; continue; }
        const int64_t slot = ih % KH, k = b * H + ih;
        float* buf = ring.data() + slot * padLen;
        if (key[slot] != k) {
          // padded element p holds input column p / C - left
          std::fill(buf, buf + padLen, 0.f);
          const int64_t n = std::min(W * C, padLen - J - left * C);
          if (n > 0) std::copy(x + k * W * C, x + k * W * C + n, buf + left * C);
          key[slot] = k;
        }
        src[kh] = buf;
        valid++;
      }
      float* yr = y + row * rowLen;
      if (valid == 0) { std::fill(yr, yr + rowLen, 0.f); continue; }
      for (int64_t j0 = 0; j0 < rowLen; j0 += J) {
        alignas(64) float acc[J];
#if defined(__AVX512F__)
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t kh = 0; kh < KH; kh++) {
          if (!src[kh]) continue;
          for (int64_t kw = 0; kw < KW; kw++) {
            const float* xp = src[kh] + kw * C + j0;
            const float* wp = wide.data() + (kh * KW + kw) * rowLen + j0;
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(xp), _mm512_loadu_ps(wp), a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(xp + 16), _mm512_loadu_ps(wp + 16), a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(xp + 32), _mm512_loadu_ps(wp + 32), a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(xp + 48), _mm512_loadu_ps(wp + 48), a3);
          }
        }
        _mm512_store_ps(acc, a0);
        _mm512_store_ps(acc + 16, a1);
        _mm512_store_ps(acc + 32, a2);
        _mm512_store_ps(acc + 48, a3);
#else
        std::fill(acc, acc + J, 0.f);
        for (int64_t kh = 0; kh < KH; kh++) {
          if (!src[kh]) continue;
          for (int64_t kw = 0; kw < KW; kw++) {
            const float* xp = src[kh] + kw * C + j0;
            const float* wp = wide.data() + (kh * KW + kw) * rowLen + j0;
            for (int64_t j = 0; j < J; j++) acc[j] += xp[j] * wp[j];
          }
        }
#endif
        std::copy(acc, acc + std::min(J, rowLen - j0), yr + j0);
      }
    }
  });
}

}  // namespace

void dwForward(const float* x, const float* w, const DwGeom& g, float* y) {
  if (g.sh == 1 && g.sw == 1) {
    dwStride1(x, w, g.B, g.H, g.W, g.C, g.OH, g.OW, g.KH, g.KW, g.top, g.left, y);
    return;
  }
  const int64_t C = g.C, rowLen = g.OW * C, taps = g.KH * g.KW;
  const std::vector<float> wide = g.sw == 1 ? wideWeights(w, taps, C, g.OW) : std::vector<float>();
  const int64_t rows = g.B * g.OH;
  forChunks(rows, rowChunk(rows, rowLen), [&](int64_t, int64_t r0, int64_t r1) {
  for (int64_t row = r0; row < r1; row++) {
    const int64_t b = row / g.OH, oh = row % g.OH;
    float* yr = y + row * rowLen;
    std::fill(yr, yr + rowLen, 0.f);
    for (int64_t kh = 0; kh < g.KH; kh++) {
      const int64_t ih = oh * g.sh - g.top + kh;
      if (ih < 0 || ih >= g.H) continue;
      const float* xr = x + (b * g.H + ih) * g.W * C;
      for (int64_t kw = 0; kw < g.KW; kw++) {
        int64_t ow0, ow1;
        outRange(kw, g.left, g.sw, g.W, g.OW, ow0, ow1);
        const int64_t t = kh * g.KW + kw;
        if (g.sw == 1) {
          const float* xs = xr + (kw - g.left) * C;  // x pixel ow - left + kw for output ow
          const float* ws = wide.data() + t * rowLen;
          for (int64_t j = ow0 * C, e = ow1 * C; j < e; j++) yr[j] += xs[j] * ws[j];
        } else {
          const float* wt = w + t * C;
          for (int64_t ow = ow0; ow < ow1; ow++) {
            const float* xp = xr + (ow * g.sw - g.left + kw) * C;
            float* yp = yr + ow * C;
            for (int64_t c = 0; c < C; c++) yp[c] += xp[c] * wt[c];
          }
        }
      }
    }
  }
  });
}

void dwInputGrad(const float* dy, const float* w, const DwGeom& g, float* dx) {
  if (g.sh == 1 && g.sw == 1) {
    // dx is the stride-1 conv of dy with the filter rotated by 180 degrees and the
    // complementary padding.
    const int64_t taps = g.KH * g.KW;
    std::vector<float> rotated(static_cast<size_t>(taps * g.C));
    for (int64_t t = 0; t < taps; t++) std::copy(w + (taps - 1 - t) * g.C, w + (taps - t) * g.C, rotated.begin() + t * g.C);
    dwStride1(dy, rotated.data(), g.B, g.OH, g.OW, g.C, g.H, g.W, g.KH, g.KW, g.KH - 1 - g.top, g.KW - 1 - g.left, dx);
    return;
  }
  const int64_t C = g.C, rowLen = g.W * C, taps = g.KH * g.KW;
  const std::vector<float> wide = g.sw == 1 ? wideWeights(w, taps, C, g.W) : std::vector<float>();
  const int64_t rows = g.B * g.H;
  // Gather form: each input row collects from the output rows its taps reach, so
  // chunks write disjoint rows.
  forChunks(rows, rowChunk(rows, rowLen), [&](int64_t, int64_t r0, int64_t r1) {
  for (int64_t row = r0; row < r1; row++) {
    const int64_t b = row / g.H, ih = row % g.H;
    float* dr = dx + row * rowLen;
    std::fill(dr, dr + rowLen, 0.f);
    for (int64_t kh = 0; kh < g.KH; kh++) {
      const int64_t num = ih + g.top - kh;
      if (num < 0 || num % g.sh) continue;
      const int64_t oh = num / g.sh;
      if (oh >= g.OH) continue;
      const float* yr = dy + (b * g.OH + oh) * g.OW * C;
      for (int64_t kw = 0; kw < g.KW; kw++) {
        const int64_t t = kh * g.KW + kw;
        if (g.sw == 1) {
          // input iw reads output ow = iw + left - kw, valid for iw in [kw - left, OW + kw - left)
          const int64_t iw0 = std::max<int64_t>(0, kw - g.left), iw1 = std::min(g.W, g.OW + kw - g.left);
          if (iw1 <= iw0) continue;
          const float* ys = yr + (g.left - kw) * C;
          const float* ws = wide.data() + t * rowLen;
          for (int64_t j = iw0 * C, e = iw1 * C; j < e; j++) dr[j] += ys[j] * ws[j];
        } else {
          const float* wt = w + t * C;
          int64_t ow0, ow1;
          outRange(kw, g.left, g.sw, g.W, g.OW, ow0, ow1);
          for (int64_t ow = ow0; ow < ow1; ow++) {
            float* dp = dr + (ow * g.sw - g.left + kw) * C;
            const float* yp = yr + ow * C;
            for (int64_t c = 0; c < C; c++) dp[c] += yp[c] * wt[c];
          }
        }
      }
    }
  }
  });
}

void dwFilterGrad(const float* x, const float* dy, const DwGeom& g, float* dw) {
  const int64_t C = g.C, rowLen = g.OW * C, taps = g.KH * g.KW;
  const int64_t rows = g.B * g.OH;
  // Per chunk of rows: float row accumulators [taps][OW*C], folded into float64 every
  // FLUSH rows (float sums over a few rows only; the long batch sum is in float64),
  // chunk totals added in chunk order.
  constexpr int64_t FLUSH = 8;
  const int64_t len = rowChunk(rows, rowLen), chunks = chunkCount(rows, len);
  std::vector<double> totals(static_cast<size_t>(chunks * taps * C), 0.0);
  forChunks(rows, len, [&](int64_t ci, int64_t r0, int64_t r1) {
    std::vector<float> acc(static_cast<size_t>(taps * rowLen), 0.f);
    std::vector<double> wide(static_cast<size_t>(taps * rowLen), 0.0);
    for (int64_t row = r0; row < r1; row++) {
      const int64_t b = row / g.OH, oh = row % g.OH;
      const float* yr = dy + row * rowLen;
      for (int64_t kh = 0; kh < g.KH; kh++) {
        const int64_t ih = oh * g.sh - g.top + kh;
        if (ih < 0 || ih >= g.H) continue;
        const float* xr = x + (b * g.H + ih) * g.W * C;
        for (int64_t kw = 0; kw < g.KW; kw++) {
          int64_t ow0, ow1;
          outRange(kw, g.left, g.sw, g.W, g.OW, ow0, ow1);
          float* a = acc.data() + (kh * g.KW + kw) * rowLen;
          if (g.sw == 1) {
            const float* xs = xr + (kw - g.left) * C;
            for (int64_t j = ow0 * C, e = ow1 * C; j < e; j++) a[j] += xs[j] * yr[j];
          } else {
            for (int64_t ow = ow0; ow < ow1; ow++) {
              const float* xp = xr + (ow * g.sw - g.left + kw) * C;
              const float* yp = yr + ow * C;
              float* ap = a + ow * C;
              for (int64_t c = 0; c < C; c++) ap[c] += xp[c] * yp[c];
            }
          }
        }
      }
      if ((row - r0) % FLUSH == FLUSH - 1 || row == r1 - 1) {
        for (size_t i = 0; i < acc.size(); i++) { wide[i] += acc[i]; acc[i] = 0.f; }
      }
    }
    double* tot = totals.data() + ci * taps * C;
    for (int64_t tp = 0; tp < taps; tp++)
      for (int64_t ow = 0; ow < g.OW; ow++)
        for (int64_t c = 0; c < C; c++) tot[tp * C + c] += wide[tp * rowLen + ow * C + c];
  });
  for (int64_t i = 0; i < taps * C; i++) {
    double s = 0;
    for (int64_t ci = 0; ci < chunks; ci++) s += totals[ci * taps * C + i];
    dw[i] = static_cast<float>(s);
  }
}

}  // namespace repghost
