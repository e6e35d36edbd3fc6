// An embedder of an ahead-of-time compiled Cascade kernel.
//
//   attn-compile variants/softmax.mlir --head-dims e=64,f=64 \
//       -o softmax.o --header softmax_kernel.h
//   c++ -std=c++17 -O2 -I. examples/cpu/softmax_main.cpp softmax.o -lpthread
//   ./a.out 2 4 100 130      # B H P M
//   ./a.out 2 4 100 130 MODE # a misuse the ABI must catch (see below)
//
// Validates the views with the kernel's generated softmax_check (exit 2 with
// its message when they do not fit), fills Q, K, V with a fixed pattern,
// runs the kernel's work items on two threads, recomputes softmax attention
// in double precision and exits 1 if any element differs by more than 1e-4
// or is not finite. MODE spoils one view before the check (stride: an
// innermost stride of 2; head: a head dimension of 32; negative: a negative
// size; keys: V with fewer keys than K) or, with "range", calls the kernel
// with [begin, end) reaching past both ends of the work items, which the
// kernel clamps.

#include "softmax_kernel.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

constexpr int64_t kHead = 64; // the head dimension compiled in

cascade_memref4_f32 view(std::vector<float> &data, int64_t b, int64_t h,
                         int64_t rows) {
  cascade_memref4_f32 m;
  m.allocated = m.aligned = data.data();
  m.offset = 0;
  int64_t sizes[4] = {b, h, rows, kHead};
  int64_t stride = 1;
  for (int d = 3; d >= 0; --d) {
    m.sizes[d] = sizes[d];
    m.strides[d] = stride;
    stride *= sizes[d];
  }
  return m;
}

} // namespace

int main(int argc, char **argv) {
  int64_t B = argc > 4 ? std::atoll(argv[1]) : 2;
  int64_t H = argc > 4 ? std::atoll(argv[2]) : 4;
  int64_t P = argc > 4 ? std::atoll(argv[3]) : 100;
  int64_t M = argc > 4 ? std::atoll(argv[4]) : 130;
  const char *mode = argc > 5 ? argv[5] : "";
  std::vector<float> q(B * H * P * kHead), k(B * H * M * kHead),
      v(B * H * M * kHead), out(B * H * P * kHead, NAN);
  for (size_t i = 0; i < q.size(); ++i)
    q[i] = std::sin(0.37 * i);
  for (size_t i = 0; i < k.size(); ++i) {
    k[i] = std::cos(0.11 * i);
    v[i] = std::sin(0.05 * i + 1);
  }
  cascade_memref4_f32 Q = view(q, B, H, P), K = view(k, B, H, M),
                      V = view(v, B, H, M), O = view(out, B, H, P);

  if (!std::strcmp(mode, "stride"))
    K.strides[3] = 2;
  else if (!std::strcmp(mode, "head"))
    V.sizes[3] = 32;
  else if (!std::strcmp(mode, "negative"))
    Q.sizes[2] = -P;
  else if (!std::strcmp(mode, "keys"))
    V.sizes[2] = M - 1;
  if (int32_t status = softmax_check(&Q, &K, &V, &O)) {
    std::printf("softmax_check: %s\n", softmax_check_messages[status - 1]);
    return 2;
  }

  // Work items are independent: hand them to threads one at a time.
  int64_t items = softmax_work_items(&O);
  if (items < 0)
    return 2;
  if (!std::strcmp(mode, "range")) {
    _mlir_ciface_softmax(&Q, &K, &V, &O, -5, items + 100);
  } else {
    std::atomic<int64_t> next{0};
    auto worker = [&] {
      for (int64_t item; (item = next.fetch_add(1)) < items;)
        _mlir_ciface_softmax(&Q, &K, &V, &O, item, item + 1);
    };
    std::thread helper(worker);
    worker();
    helper.join();
  }

  double worst = 0;
  std::vector<double> s(M);
  for (int64_t bh = 0; bh < B * H; ++bh)
    for (int64_t p = 0; p < P; ++p) {
      double maxScore = -INFINITY, sum = 0;
      for (int64_t m = 0; m < M; ++m) {
        double dot = 0;
        for (int64_t e = 0; e < kHead; ++e)
          dot += double(q[(bh * P + p) * kHead + e]) * k[(bh * M + m) * kHead + e];
        s[m] = dot / std::sqrt(double(kHead));
        maxScore = std::max(maxScore, s[m]);
      }
      for (int64_t m = 0; m < M; ++m)
        sum += s[m] = std::exp(s[m] - maxScore);
      for (int64_t f = 0; f < kHead; ++f) {
        double expected = 0;
        for (int64_t m = 0; m < M; ++m)
          expected += s[m] / sum * v[(bh * M + m) * kHead + f];
        double got = out[(bh * P + p) * kHead + f];
        double error = std::isfinite(got) ? std::fabs(got - expected) : INFINITY;
        worst = std::max(worst, error);
      }
    }
  std::printf("softmax B=%lld H=%lld P=%lld M=%lld: %lld work items, max "
              "|error| %.3g: %s\n",
              (long long)B, (long long)H, (long long)P, (long long)M,
              (long long)items, worst, worst <= 1e-4 ? "OK" : "FAIL");
  return worst <= 1e-4 ? 0 : 1;
}
