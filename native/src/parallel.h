// How the kernels share work between threads. Work is cut into chunks whose size
// depends only on the problem (never on the thread count), and chunks are handed out
// dynamically. So (1) a thread the OS deschedules on a busy machine does not hold the
// others up at a barrier (with fixed per-thread slices a step got 3x slower whenever
// another process ran), and (2) reductions add per-chunk partial results in chunk
// order: the same bits for 1 or 2 threads, so a run resumed with another thread count
// continues exactly.
#pragma once
#include <algorithm>
#include <cstdint>
#include <omp.h>

namespace repghost {

/** Chunk length for n items: at least `minChunk`, at most ~64 chunks in all. */
inline int64_t chunkLength(int64_t n, int64_t minChunk) {
  return std::max<int64_t>(minChunk, (n + 63) / 64);
}

/** Number of chunks of `len` items covering n. */
inline int64_t chunkCount(int64_t n, int64_t len) { return n <= 0 ? 0 : (n + len - 1) / len; }

/** Calls f(chunkIndex, begin, end) for the chunks of [0, n), in parallel when there are several. */
template <class F>
void forChunks(int64_t n, int64_t len, F&& f) {
  const int64_t chunks = chunkCount(n, len);
  if (chunks <= 1 || omp_get_max_threads() == 1) {
    for (int64_t c = 0; c < chunks; c++) f(c, c * len, std::min(n, (c + 1) * len));
    return;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; c++) f(c, c * len, std::min(n, (c + 1) * len));
}

}  // namespace repghost
