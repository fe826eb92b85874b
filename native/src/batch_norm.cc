// Fused train-mode BatchNorm (+ addend, + ReLU) over NHWC rows, as
// src/train/kernels/batch-norm.ts defines it: batch moments in float64, PyTorch's
// float32 folding alpha = invstd * gamma, shift = beta - mean * alpha.
//
// Layout trick: with C channels, m = 16 / gcd(C, 16) consecutive rows form a "wide
// row" of P = m*C floats (a multiple of 16), and element p of a wide row is channel
// p % C. Per-channel constants are repeated m times, per-channel sums are kept per
// position and folded at the end, so every inner loop runs over P contiguous floats
// with full vectors, even for the 8-, 12- and 20-channel layers.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>
#include "kernels.h"
#include "parallel.h"

namespace repghost {
namespace {

/** Wide rows summed in float before the float64 sums take them. */
constexpr int64_t BLOCK = 8;

struct Wide {
  int64_t m, P, groups;  // rows per wide row, its length, whole wide rows in the tensor
  Wide(int64_t rows, int64_t C) : m(16 / std::gcd<int64_t>(C, 16)), P(m * C), groups(rows / m) {}
  /** Wide rows per chunk: ~16K floats or more. */
  int64_t chunk() const { return chunkLength(groups, std::max<int64_t>(1, 16384 / P)); }
};

std::vector<float> repeat(const float* v, int64_t C, int64_t m) {
  std::vector<float> out(static_cast<size_t>(C * m));
  for (int64_t i = 0; i < m; i++) std::copy(v, v + C, out.begin() + i * C);
  return out;
}

/**
 * Per-position float64 sums over the wide rows, two quantities (s, q) computed by
 * `acc(g, ps, pq)` for wide row g into float block sums; returns [2][P] totals.
 */
template <class Acc>
std::vector<double> wideSums(const Wide& w, Acc&& acc) {
  const int64_t P = w.P, len = w.chunk(), chunks = chunkCount(w.groups, len);
  std::vector<double> part(static_cast<size_t>(std::max<int64_t>(chunks, 1) * 2 * P), 0.0);
  forChunks(w.groups, len, [&](int64_t c, int64_t g0, int64_t g1) {
    double* s = part.data() + c * 2 * P;
    double* q = s + P;
    std::vector<float> bs(P), bq(P);
    for (int64_t gb = g0; gb < g1; gb += BLOCK) {
      std::fill(bs.begin(), bs.end(), 0.f);
      std::fill(bq.begin(), bq.end(), 0.f);
      for (int64_t g = gb, ge = std::min(g1, gb + BLOCK); g < ge; g++) acc(g, bs.data(), bq.data());
      for (int64_t p = 0; p < P; p++) { s[p] += bs[p]; q[p] += bq[p]; }
    }
  });
  std::vector<double> total(static_cast<size_t>(2 * P), 0.0);
  for (int64_t c = 0; c < chunks; c++)
    for (int64_t i = 0; i < 2 * P; i++) total[i] += part[c * 2 * P + i];
  return total;
}

/** Calls f(base, len) over [0, n) in pieces of at most P floats, P-aligned, in parallel chunks. */
template <class F>
void elementwise(const Wide& w, int64_t n, F&& f) {
  const int64_t P = w.P, pieces = chunkCount(n, P);
  forChunks(pieces, w.chunk(), [&](int64_t, int64_t p0, int64_t p1) {
    for (int64_t i = p0; i < p1; i++) f(i * P, std::min(P, n - i * P));
  });
}

}  // namespace

void bnForward(const float* x, int64_t rows, int64_t C, const float* gamma, const float* beta,
               const float* z, bool relu, double eps, float* y, float* meanOut, float* varOut) {
  const Wide w(rows, C);
  const int64_t P = w.P, n = rows * C, tail0 = w.groups * P;
  // Sums shifted by each channel's first value (exact enough in float64).
  const std::vector<float> kw = repeat(x, C, w.m);
  const float* kp = kw.data();
  const std::vector<double> sums = wideSums(w, [&](int64_t g, float* ps, float* pq) {
    const float* xr = x + g * P;
    for (int64_t p = 0; p < P; p++) {
      const float d = xr[p] - kp[p];
      ps[p] += d;
      pq[p] += d * d;
    }
  });
  std::vector<float> alpha(C), shift(C);
  for (int64_t c = 0; c < C; c++) {
    double s = 0, q = 0;
    for (int64_t p = c; p < P; p += C) { s += sums[p]; q += sums[P + p]; }
    for (int64_t i = tail0 + c; i < n; i += C) { const double d = static_cast<double>(x[i]) - kw[c]; s += d; q += d * d; }
    const double mean = kw[c] + s / rows;
    const double var = std::max(0.0, (q - s * s / rows) / rows);
    meanOut[c] = static_cast<float>(mean);
    varOut[c] = static_cast<float>(var);
    const float invstd = static_cast<float>(1.0 / std::sqrt(var + eps));
    alpha[c] = invstd * gamma[c];
    shift[c] = static_cast<float>(static_cast<double>(beta[c]) - static_cast<double>(meanOut[c]) * alpha[c]);
  }
  const std::vector<float> aw = repeat(alpha.data(), C, w.m), sw = repeat(shift.data(), C, w.m);
  const float* al = aw.data();
  const float* sh = sw.data();
  elementwise(w, n, [&](int64_t base, int64_t len) {
    const float* xr = x + base;
    float* yr = y + base;
    if (z) {
      const float* zr = z + base;
      if (relu) for (int64_t p = 0; p < len; p++) yr[p] = std::max(xr[p] * al[p] + sh[p] + zr[p], 0.f);
      else for (int64_t p = 0; p < len; p++) yr[p] = xr[p] * al[p] + sh[p] + zr[p];
    } else {
      if (relu) for (int64_t p = 0; p < len; p++) yr[p] = std::max(xr[p] * al[p] + sh[p], 0.f);
      else for (int64_t p = 0; p < len; p++) yr[p] = xr[p] * al[p] + sh[p];
    }
  });
}

void bnBackward(const float* dy, const float* x, int64_t rows, int64_t C, const float* gamma,
                const float* mean, const float* var, const float* y, double eps,
                float* dx, float* dgamma, float* dbeta, float* dz) {
  const Wide w(rows, C);
  const int64_t P = w.P, n = rows * C, tail0 = w.groups * P;
  const std::vector<float> mw = repeat(mean, C, w.m);
  const float* mp = mw.data();
  const std::vector<double> sums = wideSums(w, [&](int64_t g, float* pg, float* pgx) {
    const float* dr = dy + g * P;
    const float* xr = x + g * P;
    if (y) {
      const float* yr = y + g * P;
      for (int64_t p = 0; p < P; p++) {
        const float dv = dr[p];
        const float gv = yr[p] > 0.f ? dv : 0.f;
        pg[p] += gv;
        pgx[p] += gv * (xr[p] - mp[p]);
      }
    } else {
      for (int64_t p = 0; p < P; p++) {
        pg[p] += dr[p];
        pgx[p] += dr[p] * (xr[p] - mp[p]);
      }
    }
  });
  std::vector<float> a(C), b(C), d(C);
  for (int64_t c = 0; c < C; c++) {
    double sg = 0, sgx = 0;
    for (int64_t p = c; p < P; p += C) { sg += sums[p]; sgx += sums[P + p]; }
    for (int64_t i = tail0 + c; i < n; i += C) {
      const double gv = (!y || y[i] > 0.f) ? dy[i] : 0.f;
      sg += gv;
      sgx += gv * (static_cast<double>(x[i]) - mean[c]);
    }
    const double invstd = 1.0 / std::sqrt(var[c] + eps);
    dgamma[c] = static_cast<float>(sgx * invstd);
    dbeta[c] = static_cast<float>(sg);
    // dx = gamma*invstd*(g - mean(g) - (x - mean)*invstd^2*mean(g*(x - mean))) = a*g + b*x + d
    const double k1 = gamma[c] * invstd;
    const double k3 = (sgx / rows) * invstd * invstd;
    a[c] = static_cast<float>(k1);
    b[c] = static_cast<float>(-k1 * k3);
    d[c] = static_cast<float>(k1 * (mean[c] * k3 - sg / rows));
  }
  const std::vector<float> aw = repeat(a.data(), C, w.m), bw = repeat(b.data(), C, w.m), dw = repeat(d.data(), C, w.m);
  const float* pa = aw.data();
  const float* pb = bw.data();
  const float* pd = dw.data();
  elementwise(w, n, [&](int64_t base, int64_t len) {
    const float* dr = dy + base;
    const float* xr = x + base;
    float* out = dx + base;
    if (!y) {
      for (int64_t p = 0; p < len; p++) out[p] = pa[p] * dr[p] + pb[p] * xr[p] + pd[p];
    } else if (!dz) {
      const float* yr = y + base;
      for (int64_t p = 0; p < len; p++) out[p] = pa[p] * (yr[p] > 0.f ? dr[p] : 0.f) + pb[p] * xr[p] + pd[p];
    } else {
      // Unconditional loads and __restrict outputs, or GCC leaves this loop scalar.
      const float* __restrict yr = y + base;
      float* __restrict zr = dz + base;
      float* __restrict o = out;
      for (int64_t p = 0; p < len; p++) {
        const float dv = dr[p];
        const float gv = yr[p] > 0.f ? dv : 0.f;
        o[p] = pa[p] * gv + pb[p] * xr[p] + pd[p];
        zr[p] = gv;
      }
    }
  });
}

void add(const float* a, const float* b, float* out, int64_t n) {
  forChunks(n, chunkLength(n, 1 << 15), [&](int64_t, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) out[i] = a[i] + b[i];
  });
}

}  // namespace repghost
