// Dense convolution for the stem (3x3, stride 2, 3 input channels): forward and filter
// gradient. Narrow stems (27 taps, <= 16 outputs: 0.5x-1.3x) run directly, one
// register per filter tap, over a few im2col'ed pixels at a time.
// Others use im2col + matrix product in chunks of output pixels so the column buffer
// stays small (a whole 224x224 batch of 32 would need 43 MB).
#include <algorithm>
#include <vector>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include "kernels.h"
#include "parallel.h"

namespace repghost {
namespace {

constexpr int64_t CHUNK = 512;  // output pixels per im2col chunk

/** Rows [p0, p1) of the im2col matrix ([pixels, KH*KW*CI], rows `ld` apart, zero in the padding). */
void im2col(const float* x, const ConvGeom& g, int64_t p0, int64_t p1, float* col, int64_t ld) {
  for (int64_t p = p0; p < p1; p++) {
    const int64_t b = p / (g.OH * g.OW), rem = p % (g.OH * g.OW), oh = rem / g.OW, ow = rem % g.OW;
    float* c = col + (p - p0) * ld;
    for (int64_t kh = 0; kh < g.KH; kh++) {
      const int64_t ih = oh * g.sh - g.top + kh;
      for (int64_t kw = 0; kw < g.KW; kw++) {
        const int64_t iw = ow * g.sw - g.left + kw;
        float* dst = c + (kh * g.KW + kw) * g.CI;
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) { std::fill(dst, dst + g.CI, 0.f); continue; }
        const float* src = x + ((b * g.H + ih) * g.W + iw) * g.CI;
        std::copy(src, src + g.CI, dst);
      }
    }
  }
}


#if defined(__AVX512F__)
constexpr int64_t MAX_TAPS = 27;  // 3x3 over 3 channels: the stem
constexpr int64_t PX = 4;         // pixels in flight (hides the FMA latency)

/** The direct path covers the stems: 3x3 over 3 channels, at most 16 outputs. */
bool direct(const ConvGeom& g) { return g.CO <= 16 && g.KH * g.KW * g.CI == MAX_TAPS && g.KH <= 8; }

/**
 * Calls f(col, n, p0) for every group of up to PX consecutive output pixels of one
 * output row, where col(q, t) gives tap t of pixel q. Interior pixels read the input
 * in place: with the filter laid out [kh][kw][ci], the KW*CI taps of one kernel row
 * are KW*CI consecutive floats of the input row. Pixels touching the padding are
 * gathered into a small zero-padded buffer first.
 */
template <class F>
void forEachPixelGroup(const float* x, const ConvGeom& g, int64_t row, F&& f) {
  const int64_t b = row / g.OH, oh = row % g.OH, span = g.KW * g.CI, taps = g.KH * span;
  const float* rows[8];
  bool allRows = g.KH <= 8;
  for (int64_t kh = 0; kh < g.KH && allRows; kh++) {
    const int64_t ih = oh * g.sh - g.top + kh;
    if (ih < 0 || ih >= g.H) allRows = false;
    else rows[kh] = x + (b * g.H + ih) * g.W * g.CI;
  }
  // interior columns: every kw inside the input
  int64_t lo = (g.left + g.sw - 1) / g.sw, hi = g.W - g.KW + g.left >= 0 ? (g.W - g.KW + g.left) / g.sw + 1 : 0;
  if (!allRows) { lo = 0; hi = 0; }
  lo = std::min(lo, g.OW);
  hi = std::max(lo, std::min(hi, g.OW));
  alignas(64) float buf[PX * MAX_TAPS];
  auto gathered = [&](int64_t ow0, int64_t ow1) {
    for (int64_t ow = ow0; ow < ow1; ow += PX) {
      const int64_t n = std::min(PX, ow1 - ow), p0 = row * g.OW + ow;
      im2col(x, g, p0, p0 + n, buf, MAX_TAPS);
      f([&](int64_t q, int64_t t) { return buf[q * MAX_TAPS + t]; }, n, p0);
    }
  };
  gathered(0, lo);
  for (int64_t ow = lo; ow < hi; ow += PX) {
    const int64_t n = std::min(PX, hi - ow), p0 = row * g.OW + ow;
    const int64_t base = (ow * g.sw - g.left) * g.CI, step = g.sw * g.CI;
    const float* tap[MAX_TAPS];
    for (int64_t t = 0; t < taps; t++) tap[t] = rows[t / span] + base + t % span;
    f([&](int64_t q, int64_t t) { return tap[t][q * step]; }, n, p0);
  }
  gathered(hi, g.OW);
}

/** Forward, one register per filter tap (TAPS known at compile time), PX output pixels at a time. */
template <int64_t taps>
void directForward(const float* x, const float* w, const ConvGeom& g, float* y) {
  const int64_t rowsOut = g.B * g.OH;
  const __mmask16 m = static_cast<__mmask16>((1u << g.CO) - 1);
  forChunks(rowsOut, chunkLength(rowsOut, std::max<int64_t>(1, CHUNK / g.OW)), [&](int64_t, int64_t r0, int64_t r1) {
    __m512 wv[MAX_TAPS];
    for (int64_t t = 0; t < taps; t++) wv[t] = _mm512_maskz_loadu_ps(m, w + t * g.CO);
    for (int64_t row = r0; row < r1; row++) {
      forEachPixelGroup(x, g, row, [&](auto col, int64_t n, int64_t p0) {
        __m512 acc[PX];
        for (int64_t q = 0; q < PX; q++) acc[q] = _mm512_setzero_ps();
        for (int64_t t = 0; t < taps; t++)
          for (int64_t q = 0; q < n; q++) acc[q] = _mm512_fmadd_ps(_mm512_set1_ps(col(q, t)), wv[t], acc[q]);
        for (int64_t q = 0; q < n; q++) _mm512_mask_storeu_ps(y + (p0 + q) * g.CO, m, acc[q]);
      });
    }
  });
}

/** Filter gradient, one register of sums per filter tap; float64 per chunk, chunks added in order. */
template <int64_t taps>
void directFilterGrad(const float* x, const float* dy, const ConvGeom& g, float* dw) {
  const int64_t rowsOut = g.B * g.OH;
  const __mmask16 m = static_cast<__mmask16>((1u << g.CO) - 1);
  const int64_t len = chunkLength(rowsOut, std::max<int64_t>(1, CHUNK / g.OW)), chunks = chunkCount(rowsOut, len);
  std::vector<double> totals(static_cast<size_t>(chunks * taps * 16), 0.0);
  forChunks(rowsOut, len, [&](int64_t ci, int64_t r0, int64_t r1) {
    __m512 acc[MAX_TAPS];
    for (int64_t t = 0; t < taps; t++) acc[t] = _mm512_setzero_ps();
    alignas(64) float lanes[16];
    double* tot = totals.data() + ci * taps * 16;
    int64_t since = 0;
    constexpr int64_t FLUSH = 1024;  // float sums over at most this many pixels, then float64
    auto flush = [&] {
      for (int64_t t = 0; t < taps; t++) {
        _mm512_store_ps(lanes, acc[t]);
        for (int c = 0; c < 16; c++) tot[t * 16 + c] += lanes[c];
        acc[t] = _mm512_setzero_ps();
      }
      since = 0;
    };
    for (int64_t row = r0; row < r1; row++) {
      forEachPixelGroup(x, g, row, [&](auto col, int64_t n, int64_t p0) {
        for (int64_t q = 0; q < n; q++) {
          const __m512 d = _mm512_maskz_loadu_ps(m, dy + (p0 + q) * g.CO);
          for (int64_t t = 0; t < taps; t++) acc[t] = _mm512_fmadd_ps(_mm512_set1_ps(col(q, t)), d, acc[t]);
        }
      });
      if ((since += g.OW) >= FLUSH) flush();
    }
    flush();
  });
  for (int64_t t = 0; t < taps; t++)
    for (int64_t c = 0; c < g.CO; c++) {
      double s = 0;
      for (int64_t ci = 0; ci < chunks; ci++) s += totals[(ci * taps + t) * 16 + c];
      dw[t * g.CO + c] = static_cast<float>(s);
    }
}
#endif

}  // namespace

void convForward(const float* x, const float* w, const ConvGeom& g, float* y) {
#if defined(__AVX512F__)
  if (direct(g)) { directForward<MAX_TAPS>(x, w, g, y); return; }
#endif
  const int64_t pixels = g.B * g.OH * g.OW, taps = g.KH * g.KW * g.CI;
  forChunks(pixels, CHUNK, [&](int64_t, int64_t p0, int64_t p1) {
    std::vector<float> col(static_cast<size_t>(CHUNK * taps));
    im2col(x, g, p0, p1, col.data(), taps);
    gemmSerial(col.data(), w, y + p0 * g.CO, p1 - p0, g.CO, taps, false, false);
  });
}

void convFilterGrad(const float* x, const float* dy, const ConvGeom& g, float* dw) {
#if defined(__AVX512F__)
  if (direct(g)) { directFilterGrad<MAX_TAPS>(x, dy, g, dw); return; }
#endif
  const int64_t pixels = g.B * g.OH * g.OW, taps = g.KH * g.KW * g.CI;
  // Groups of im2col chunks, each group summed into its own partial, added in order.
  const int64_t chunks = chunkCount(pixels, CHUNK), len = chunkLength(chunks, 1), groups = chunkCount(chunks, len);
  std::vector<float> partial(static_cast<size_t>(groups * taps * g.CO), 0.f);
  forChunks(chunks, len, [&](int64_t gi, int64_t c0, int64_t c1) {
    std::vector<float> col(static_cast<size_t>(CHUNK * taps));
    float* acc = partial.data() + gi * taps * g.CO;
    for (int64_t ch = c0; ch < c1; ch++) {
      const int64_t p0 = ch * CHUNK, p1 = std::min(pixels, p0 + CHUNK);
      im2col(x, g, p0, p1, col.data(), taps);
      // col^T [taps, pixels] times dy [pixels, CO], added to this group's sums
      gemmSerial(col.data(), dy + p0 * g.CO, acc, taps, g.CO, p1 - p0, true, true);
    }
  });
  for (int64_t i = 0; i < taps * g.CO; i++) {
    float s = 0.f;
    for (int64_t gi = 0; gi < groups; gi++) s += partial[gi * taps * g.CO + i];
    dw[i] = s;
  }
}

}  // namespace repghost
