// Single-precision matrix product for the training kernels (1x1 convs, the classifier
// and their gradients). Shapes here are tall-skinny: M or K is batch*pixels (up to
// millions), the other two are channel counts (8..1280). So: a 4x32 register tile
// (AVX-512, masked at the right edge) over K chunks that stay in L2, threads over row
// blocks when M is large, over K (partial sums per chunk, added in order) when M is small.
#include <algorithm>
#include <cstring>
#include <vector>
#include <omp.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#include "kernels.h"
#include "parallel.h"

namespace repghost {
namespace {

constexpr int64_t MR = 4;
constexpr int64_t NR = 32;
constexpr int64_t KC = 256;

/** Where element (i, k) of op(A) lives: A[i*si + k*sk]. */
struct AView { const float* p; int64_t si, sk; };

#if defined(__AVX512F__)
inline __mmask16 maskFor(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1); }

/** C[i0:i0+mr, j:j+32] (+)= A[i0:i0+mr, k0:k1] B[k0:k1, j:j+32]; B rows are ldb apart. */
template <int64_t R>
inline void tile(const AView& a, int64_t i0, const float* B, int64_t ldb, float* C, int64_t ldc,
                 int64_t k0, int64_t k1, int64_t j, __mmask16 m0, __mmask16 m1, bool accumulate) {
  __m512 c0[R], c1[R];
  for (int64_t r = 0; r < R; r++) {
    if (accumulate) {
      c0[r] = _mm512_maskz_loadu_ps(m0, C + (i0 + r) * ldc + j);
      c1[r] = _mm512_maskz_loadu_ps(m1, C + (i0 + r) * ldc + j + 16);
    } else {
      c0[r] = _mm512_setzero_ps();
      c1[r] = _mm512_setzero_ps();
    }
  }
  const float* ap = a.p + i0 * a.si;
  for (int64_t k = k0; k < k1; k++) {
    const float* bp = B + k * ldb + j;
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, bp);
    const __m512 b1 = _mm512_maskz_loadu_ps(m1, bp + 16);
    for (int64_t r = 0; r < R; r++) {
      const __m512 av = _mm512_set1_ps(ap[r * a.si + k * a.sk]);
      c0[r] = _mm512_fmadd_ps(av, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(av, b1, c1[r]);
    }
  }
  for (int64_t r = 0; r < R; r++) {
    _mm512_mask_storeu_ps(C + (i0 + r) * ldc + j, m0, c0[r]);
    _mm512_mask_storeu_ps(C + (i0 + r) * ldc + j + 16, m1, c1[r]);
  }
}

/** As `tile`, 16 columns wide (one vector per row): for narrow outputs, with more rows. */
template <int64_t R>
inline void tile16(const AView& a, int64_t i0, const float* B, int64_t ldb, float* C, int64_t ldc,
                   int64_t k0, int64_t k1, int64_t j, __mmask16 m0, bool accumulate) {
  __m512 c0[R];
  for (int64_t r = 0; r < R; r++) c0[r] = accumulate ? _mm512_maskz_loadu_ps(m0, C + (i0 + r) * ldc + j) : _mm512_setzero_ps();
  const float* ap = a.p + i0 * a.si;
  for (int64_t k = k0; k < k1; k++) {
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, B + k * ldb + j);
    for (int64_t r = 0; r < R; r++) c0[r] = _mm512_fmadd_ps(_mm512_set1_ps(ap[r * a.si + k * a.sk]), b0, c0[r]);
  }
  for (int64_t r = 0; r < R; r++) _mm512_mask_storeu_ps(C + (i0 + r) * ldc + j, m0, c0[r]);
}

/**
 * Rows [i0, i1) of C over K range [k0, k1), accumulating into C when `accumulate`.
 * Column panels outermost, so a panel of B (KC x 32) stays in L1 across all rows.
 */
void block(const AView& a, const float* B, int64_t ldb, float* C, int64_t ldc, int64_t N,
           int64_t i0, int64_t i1, int64_t k0, int64_t k1, bool accumulate) {
  for (int64_t kc = k0; kc < k1; kc += KC) {
    const int64_t ke = std::min(k1, kc + KC);
    const bool acc = accumulate || kc > k0;
    for (int64_t j = 0; j < N; j += NR) {
      const __mmask16 m0 = maskFor(N - j), m1 = maskFor(N - j - 16);
      if (N - j <= 16) {
        int64_t i = i0;
        for (; i + 8 <= i1; i += 8) tile16<8>(a, i, B, ldb, C, ldc, kc, ke, j, m0, acc);
        for (; i < i1; i++) tile16<1>(a, i, B, ldb, C, ldc, kc, ke, j, m0, acc);
        continue;
      }
      for (int64_t i = i0; i < i1; i += MR) {
        switch (std::min(MR, i1 - i)) {
          case 4: tile<4>(a, i, B, ldb, C, ldc, kc, ke, j, m0, m1, acc); break;
          case 3: tile<3>(a, i, B, ldb, C, ldc, kc, ke, j, m0, m1, acc); break;
          case 2: tile<2>(a, i, B, ldb, C, ldc, kc, ke, j, m0, m1, acc); break;
          default: tile<1>(a, i, B, ldb, C, ldc, kc, ke, j, m0, m1, acc); break;
        }
      }
    }
  }
}
#else
void block(const AView& a, const float* B, int64_t ldb, float* C, int64_t ldc, int64_t N,
           int64_t i0, int64_t i1, int64_t k0, int64_t k1, bool accumulate) {
  for (int64_t i = i0; i < i1; i++) {
    float* c = C + i * ldc;
    if (!accumulate) std::fill(c, c + N, 0.f);
    for (int64_t k = k0; k < k1; k++) {
      const float av = a.p[i * a.si + k * a.sk];
      const float* b = B + k * ldb;
      for (int64_t j = 0; j < N; j++) c[j] += av * b[j];
    }
  }
}
#endif

}  // namespace

void gemm(const float* A, const float* Bin, float* C, int64_t M, int64_t N, int64_t K,
          bool transA, bool transB) {
  if (M == 0 || N == 0) return;
  if (K == 0) { std::fill(C, C + M * N, 0.f); return; }
  std::vector<float> bt;
  const float* B = Bin;
  if (transB) {  // B given as [N, K]: make it [K, N] (B is a weight or small in every use here)
    bt.resize(static_cast<size_t>(K * N));
    constexpr int64_t TB = 32;  // transposed in tiles that stay in L1 on both sides
    for (int64_t n0 = 0; n0 < N; n0 += TB)
      for (int64_t k0 = 0; k0 < K; k0 += TB)
        for (int64_t n = n0; n < std::min(N, n0 + TB); n++)
          for (int64_t k = k0; k < std::min(K, k0 + TB); k++) bt[k * N + n] = Bin[n * K + k];
    B = bt.data();
  }
  const AView a = transA ? AView{A, 1, M} : AView{A, K, 1};
  // How the work is cut depends only on the shapes (see parallel.h).
  if (static_cast<double>(M) * N * K < 2e5) {
    block(a, B, N, C, N, N, 0, M, 0, K, false);
  } else if (M >= 64) {
    // rows in blocks: no reduction between chunks
    const int64_t blocks = (M + MR - 1) / MR;
    forChunks(blocks, chunkLength(blocks, 8), [&](int64_t, int64_t b0, int64_t b1) {
      block(a, B, N, C, N, N, b0 * MR, std::min(M, b1 * MR), 0, K, false);
    });
  } else {
    // Few rows, long K (a weight gradient): K in chunks, each summed into its own
    // partial product, then added in chunk order.
    const int64_t len = chunkLength(K, 2048), chunks = chunkCount(K, len);
    std::vector<float> partial(static_cast<size_t>((chunks - 1) * M * N));
    forChunks(K, len, [&](int64_t c, int64_t k0, int64_t k1) {
      block(a, B, N, c == 0 ? C : partial.data() + (c - 1) * M * N, N, N, 0, M, k0, k1, false);
    });
    for (int64_t c = 1; c < chunks; c++) {
      const float* p = partial.data() + (c - 1) * M * N;
      for (int64_t i = 0; i < M * N; i++) C[i] += p[i];
    }
  }
}

void gemmSerial(const float* A, const float* B, float* C, int64_t M, int64_t N, int64_t K,
                bool transA, bool accumulate) {
  if (M == 0 || N == 0) return;
  if (K == 0) { if (!accumulate) std::fill(C, C + M * N, 0.f); return; }
  const AView a = transA ? AView{A, 1, M} : AView{A, K, 1};
  block(a, B, N, C, N, N, 0, M, 0, K, accumulate);
}

void setThreads(int n) { omp_set_num_threads(std::max(1, n)); }
int getThreads() { return omp_get_max_threads(); }

}  // namespace repghost
