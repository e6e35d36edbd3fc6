//===- OpenBlasBaseline.cpp - Unfused attention with OpenBLAS -------------===//

#include "OpenBlasBaseline.h"

#include "cascade/Support/Threads.h"

#include <cblas.h>

#include <atomic>
#include <cmath>
#include <limits>

using namespace mlir::cascade;

OpenBlasAttention::OpenBlasAttention(const Tensor &qt, const Tensor &kt,
                                     const Tensor &vt, BaselineScore score,
                                     bool causal)
    : b(qt.shape[0]), h(qt.shape[1]), hkv(kt.shape[1]), p(qt.shape[2]),
      m(kt.shape[2]), e(qt.shape[3]), f(vt.shape[3]), score(score),
      causal(causal), q(qt.data.begin(), qt.data.end()),
      k(kt.data.begin(), kt.data.end()), v(vt.data.begin(), vt.data.end()),
      out(b * h * p * f) {}

void OpenBlasAttention::run(int threads) {
  openblas_set_num_threads(1);
  std::atomic<int64_t> next{0};
  auto worker = [&] {
    std::vector<float> s(p * m);
    float scale = 1.0f / std::sqrt(static_cast<float>(e));
    for (;;) {
      int64_t item = next.fetch_add(1);
      if (item >= b * h)
        break;
      int64_t bi = item / h, hi = item % h, ki = hi / (h / hkv);
      const float *qp = &q[(bi * h + hi) * p * e];
      const float *kp = &k[(bi * hkv + ki) * m * e];
      const float *vp = &v[(bi * hkv + ki) * m * f];
      float *op = &out[(bi * h + hi) * p * f];
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p, m, e, scale, qp,
                  e, kp, e, 0.0f, s.data(), m);
      float bias = std::log(static_cast<float>(m));
      for (int64_t row = 0; row < p; ++row) {
        float *sr = &s[row * m];
        int64_t visible = causal ? std::min<int64_t>(m, row + m - p + 1) : m;
        if (visible < 0)
          visible = 0;
        if (score == BaselineScore::Sigmoid) {
          for (int64_t c = 0; c < m; ++c)
            sr[c] = c < visible ? 1.0f / (1.0f + std::exp(-(sr[c] - bias)))
                                : 0.0f;
          continue;
        }
        float maxValue = -std::numeric_limits<float>::infinity();
        for (int64_t c = 0; c < visible; ++c)
          maxValue = std::max(maxValue, sr[c]);
        float sum = 0;
        for (int64_t c = 0; c < visible; ++c) {
          sr[c] = std::exp(sr[c] - maxValue);
          sum += sr[c];
        }
        float inverse = visible ? 1.0f / sum : 0.0f;
        for (int64_t c = 0; c < m; ++c)
          sr[c] = c < visible ? sr[c] * inverse : 0.0f;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, p, f, m, 1.0f,
                  s.data(), m, vp, f, 0.0f, op, f);
    }
  };
  runOnThreads(threads, worker);
}

Tensor OpenBlasAttention::getOutput() const {
  Tensor result({b, h, p, f});
  for (size_t i = 0; i < out.size(); ++i)
    result.data[i] = out[i];
  return result;
}
