// An embedder of softmax_document: attention over packed sequences, each
// query seeing the keys of its own document up to itself. The document ids
// are an int32 [B, N] view next to Q, K, V; no mask is built.
//
//   attn-compile variants/softmax_document.mlir --head-dims e=64,f=64 \
//       -o document.o --header softmax_document_kernel.h
//   c++ -std=c++17 -O2 -I. examples/cpu/document_main.cpp document.o -lpthread
//   ./a.out 2 4 300 100 64 136    # B H N, then the document lengths
//   ./a.out 2 4 300 300 MODE      # a misuse the ABI must catch (see below)
//
// The lengths (at least one, each >= 1) must add up to N. Every batch
// packs the same documents, rotated by one position per batch so that
// batches differ. Validates the views with softmax_document_check (exit 2
// with its message when they do not fit), runs the work items on two
// threads, recomputes causal attention within each document in double
// precision and exits 1 if any element differs by more than 1e-4 or is not
// finite. MODE spoils the ids' view before the check (ids: one id fewer
// than keys; stride: an innermost stride of 2).

#include "softmax_document_kernel.h"

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
  if (argc < 5) {
    std::fprintf(stderr, "usage: %s B H N LENGTH... | B H N N MODE\n", argv[0]);
    return 2;
  }
  int64_t B = std::atoll(argv[1]), H = std::atoll(argv[2]),
          N = std::atoll(argv[3]);
  const char *mode = "";
  std::vector<int64_t> lengths;
  for (int i = 4; i < argc; ++i) {
    if (std::atoll(argv[i]) <= 0) {
      mode = argv[i];
      continue;
    }
    lengths.push_back(std::atoll(argv[i]));
  }
  int64_t total = 0;
  for (int64_t length : lengths)
    total += length;
  if (total != N) {
    std::fprintf(stderr, "the document lengths add up to %lld, not N = %lld\n",
                 (long long)total, (long long)N);
    return 2;
  }
  // Ids: document k covers its positions; batch b rotates them by b.
  std::vector<int32_t> ids(B * N);
  for (int64_t b = 0; b < B; ++b) {
    int64_t position = 0;
    for (size_t document = 0; document < lengths.size(); ++document)
      for (int64_t i = 0; i < lengths[document]; ++i, ++position)
        ids[b * N + (position + b) % N] = int32_t(document);
  }
  std::vector<float> q(B * H * N * kHead), k(q.size()), v(q.size()),
      out(q.size(), NAN);
  for (size_t i = 0; i < q.size(); ++i) {
    q[i] = std::sin(0.37 * i);
    k[i] = std::cos(0.11 * i);
    v[i] = std::sin(0.05 * i + 1);
  }
  cascade_memref4_f32 Q = view(q, B, H, N), K = view(k, B, H, N),
                      V = view(v, B, H, N), O = view(out, B, H, N);
  cascade_memref2_i32 D;
  D.allocated = D.aligned = ids.data();
  D.offset = 0;
  D.sizes[0] = B;
  D.sizes[1] = N;
  D.strides[0] = N;
  D.strides[1] = 1;

  if (!std::strcmp(mode, "ids"))
    D.sizes[1] = N - 1;
  else if (!std::strcmp(mode, "stride"))
    D.strides[1] = 2;
  if (int32_t status = softmax_document_check(&Q, &K, &V, &D, &O)) {
    std::printf("softmax_document_check: %s\n",
                softmax_document_check_messages[status - 1]);
    return 2;
  }

  int64_t items = softmax_document_work_items(&O);
  if (items < 0)
    return 2;
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    for (int64_t item; (item = next.fetch_add(1)) < items;)
      _mlir_ciface_softmax_document(&Q, &K, &V, &D, &O, item, item + 1);
  };
  std::thread helper(worker);
  worker();
  helper.join();

  // Query p sees key m when m <= p and both lie in the same document; every
  // row sees at least itself.
  double worst = 0;
  std::vector<double> s(N);
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const int32_t *id = &ids[(bh / H) * N];
    for (int64_t p = 0; p < N; ++p) {
      double maxScore = -INFINITY, sum = 0;
      for (int64_t m = 0; m <= p; ++m) {
        if (id[m] != id[p])
          continue;
        double dot = 0;
        for (int64_t e = 0; e < kHead; ++e)
          dot += double(q[(bh * N + p) * kHead + e]) * k[(bh * N + m) * kHead + e];
        s[m] = dot / std::sqrt(double(kHead));
        maxScore = std::max(maxScore, s[m]);
      }
      for (int64_t m = 0; m <= p; ++m)
        if (id[m] == id[p])
          sum += s[m] = std::exp(s[m] - maxScore);
      for (int64_t f = 0; f < kHead; ++f) {
        double expected = 0;
        for (int64_t m = 0; m <= p; ++m)
          if (id[m] == id[p])
            expected += s[m] / sum * v[(bh * N + m) * kHead + f];
        double got = out[(bh * N + p) * kHead + f];
        double error = std::isfinite(got) ? std::fabs(got - expected) : INFINITY;
        worst = std::max(worst, error);
      }
    }
  }
  std::printf("softmax_document B=%lld H=%lld N=%lld, %zu documents: %lld "
              "work items, max |error| %.3g: %s\n",
              (long long)B, (long long)H, (long long)N, lengths.size(),
              (long long)items, worst, worst <= 1e-4 ? "OK" : "FAIL");
  return worst <= 1e-4 ? 0 : 1;
}
