// Optimizer and EMA updates, bit-identical to their TypeScript loops (src/train/sgd.ts,
// src/train/ema.ts): the same float64 arithmetic rounded to float32 at the same points,
// with contraction into fused multiply-adds off (JavaScript never fuses), so the native
// and the TypeScript paths give the same weights and a resumed run matches either way.
#pragma GCC optimize("fp-contract=off")
#if defined(__SSE__)
#include <xmmintrin.h>
#endif
#include "kernels.h"
#include "parallel.h"

namespace repghost {
namespace {

/**
 * IEEE denormals for the scope: the kernels' worker threads run with flush-to-zero
 * (see addon.cc), and these updates must round exactly as JavaScript does.
 */
struct KeepDenormals {
#if defined(__SSE__)
  unsigned saved = _mm_getcsr();
  KeepDenormals() { _mm_setcsr(saved & ~0x8040u); }
  ~KeepDenormals() { _mm_setcsr(saved); }
#endif
};
}  // namespace

void sgdStep(float* w, const float* g, float* buf, int64_t n, double lr, double wd, double m, double dampening,
             bool nesterov, bool first) {
  const double damp = 1 - dampening;
  forChunks(n, chunkLength(n, 1 << 16), [&](int64_t, int64_t i0, int64_t i1) {
    const KeepDenormals ieee;
    for (int64_t i = i0; i < i1; i++) {
      double d = wd != 0 ? static_cast<float>(static_cast<double>(g[i]) + wd * w[i]) : static_cast<double>(g[i]);
      if (m != 0) {
        const float b = first ? static_cast<float>(d)
                              : static_cast<float>(static_cast<double>(static_cast<float>(m * buf[i])) + damp * d);
        buf[i] = b;
        d = nesterov ? static_cast<double>(static_cast<float>(d + m * b)) : static_cast<double>(b);
      }
      w[i] = static_cast<float>(static_cast<double>(w[i]) - lr * d);
    }
  });
}

void emaUpdate(float* ema, const float* cur, int64_t n, double d, double c) {
  forChunks(n, chunkLength(n, 1 << 16), [&](int64_t, int64_t i0, int64_t i1) {
    const KeepDenormals ieee;
    for (int64_t i = i0; i < i1; i++) {
      ema[i] = static_cast<float>(static_cast<double>(static_cast<float>(d * ema[i])) + static_cast<double>(static_cast<float>(c * cur[i])));
    }
  });
}

}  // namespace repghost
