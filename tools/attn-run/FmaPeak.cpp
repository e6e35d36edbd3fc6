//===- FmaPeak.cpp - This machine's measured fp32 FMA throughput ----------===//

#include "FmaPeak.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <immintrin.h>

using namespace mlir::cascade;

namespace {

// Enough independent accumulators to cover FMA latency (4-5 cycles) times
// the two FMA pipes, so the loop is throughput-bound.
constexpr int kAccumulators = 12;
constexpr int64_t kIterations = 1 << 24;

__attribute__((target("avx512f"))) float fmaLoop512(int64_t iterations) {
  __m512 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i)
    acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t n = 0; n < iterations; ++n)
    for (int i = 0; i < kAccumulators; ++i)
      acc[i] = _mm512_fmadd_ps(acc[i], a, b);
  __m512 sum = acc[0];
  for (int i = 1; i < kAccumulators; ++i)
    sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx2,fma"))) float fmaLoop256(int64_t iterations) {
  __m256 acc[kAccumulators];
  for (int i = 0; i < kAccumulators; ++i)
    acc[i] = _mm256_set1_ps(static_cast<float>(i));
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t n = 0; n < iterations; ++n)
    for (int i = 0; i < kAccumulators; ++i)
      acc[i] = _mm256_fmadd_ps(acc[i], a, b);
  alignas(32) float lanes[8];
  __m256 sum = acc[0];
  for (int i = 1; i < kAccumulators; ++i)
    sum = _mm256_add_ps(sum, acc[i]);
  _mm256_store_ps(lanes, sum);
  float total = 0;
  for (float lane : lanes)
    total += lane;
  return total;
}

} // namespace

FmaPeak mlir::cascade::measureFmaPeak(int threads) {
  FmaPeak peak;
  int lanes = 0;
  float (*loop)(int64_t) = nullptr;
  if (__builtin_cpu_supports("avx512f")) {
    loop = fmaLoop512;
    lanes = 16;
    peak.isa = "AVX-512";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    loop = fmaLoop256;
    lanes = 8;
    peak.isa = "AVX2";
  } else {
    return peak;
  }
  threads = std::max(threads, 1);
  // The results are summed into `sink` so the loops are not removed.
  std::vector<float> sink(threads);
  double best = 0;
  for (int run = 0; run < 7; ++run) {
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] { sink[t] += loop(kIterations); });
    for (std::thread &worker : workers)
      worker.join();
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
    double flops = 2.0 * lanes * kAccumulators * double(kIterations) * threads;
    best = std::max(best, flops / seconds * 1e-9);
  }
  volatile float keep = 0;
  for (float s : sink)
    keep = keep + s;
  (void)keep;
  peak.gflops = best;
  return peak;
}
