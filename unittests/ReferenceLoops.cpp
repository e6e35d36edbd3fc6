//===- ReferenceLoops.cpp - Attention as plain C++ loops ------------------===//

#include "ReferenceLoops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

using namespace cascade_test;

namespace {
/// Row-major element access for rank-4 tensors.
struct View4 {
  const Tensor &t;
  double operator()(int64_t a, int64_t b, int64_t c, int64_t d) const {
    return t.data[((a * t.shape[1] + b) * t.shape[2] + c) * t.shape[3] + d];
  }
};

struct Dims {
  int64_t B, H, Hkv, P, M, E, F;
  Dims(const Tensor &q, const Tensor &k, const Tensor &v)
      : B(q.shape[0]), H(q.shape[1]), Hkv(k.shape[1]), P(q.shape[2]),
        M(k.shape[2]), E(q.shape[3]), F(v.shape[3]) {}
  int64_t kvHead(int64_t h) const { return h / (H / Hkv); }
};

double score(const View4 &q, const View4 &k, const Dims &d, int64_t b,
             int64_t h, int64_t p, int64_t m) {
  double dot = 0;
  for (int64_t e = 0; e < d.E; ++e)
    dot += q(b, h, p, e) * k(b, d.kvHead(h), m, e);
  return dot / std::sqrt(static_cast<double>(d.E));
}
} // namespace

Tensor cascade_test::softmaxAttention(const Tensor &qt, const Tensor &kt,
                                      const Tensor &vt, bool causal,
                                      int64_t window) {
  Dims d(qt, kt, vt);
  View4 q{qt}, k{kt}, v{vt};
  Tensor out({d.B, d.H, d.P, d.F});
  std::vector<double> weights(d.M);
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h)
      for (int64_t p = 0; p < d.P; ++p) {
        double *row = &out.data[((b * d.H + h) * d.P + p) * d.F];
        int64_t visible = causal ? std::clamp<int64_t>(p + d.M - d.P + 1, 0, d.M)
                                 : d.M;
        int64_t first =
            window > 0 ? std::clamp<int64_t>(p + d.M - d.P - window + 1, 0, d.M)
                       : 0;
        if (visible <= first)
          continue; // fully masked: zeros
        double maxScore = -std::numeric_limits<double>::infinity();
        for (int64_t m = first; m < visible; ++m) {
          weights[m] = score(q, k, d, b, h, p, m);
          maxScore = std::max(maxScore, weights[m]);
        }
        double sum = 0;
        for (int64_t m = first; m < visible; ++m) {
          weights[m] = std::exp(weights[m] - maxScore);
          sum += weights[m];
        }
        for (int64_t m = first; m < visible; ++m)
          for (int64_t f = 0; f < d.F; ++f)
            row[f] += weights[m] / sum * v(b, d.kvHead(h), m, f);
      }
  return out;
}

Tensor cascade_test::maskedSoftmaxAttention(
    const Tensor &qt, const Tensor &kt, const Tensor &vt,
    const std::function<bool(int64_t, int64_t)> &visible,
    const std::function<double(int64_t, int64_t, int64_t)> &bias) {
  Dims d(qt, kt, vt);
  View4 q{qt}, k{kt}, v{vt};
  Tensor out({d.B, d.H, d.P, d.F});
  std::vector<int64_t> keys;
  std::vector<double> weights;
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h)
      for (int64_t p = 0; p < d.P; ++p) {
        keys.clear();
        for (int64_t m = 0; m < d.M; ++m)
          if (visible(p + d.M - d.P, m))
            keys.push_back(m);
        if (keys.empty())
          continue; // fully masked: zeros
        weights.assign(keys.size(), 0.0);
        double maxScore = -std::numeric_limits<double>::infinity();
        for (size_t i = 0; i < keys.size(); ++i) {
          weights[i] = score(q, k, d, b, h, p, keys[i]);
          if (bias)
            weights[i] += bias(h, p + d.M - d.P, keys[i]);
          maxScore = std::max(maxScore, weights[i]);
        }
        double sum = 0;
        for (double &w : weights) {
          w = std::exp(w - maxScore);
          sum += w;
        }
        double *row = &out.data[((b * d.H + h) * d.P + p) * d.F];
        for (size_t i = 0; i < keys.size(); ++i)
          for (int64_t f = 0; f < d.F; ++f)
            row[f] += weights[i] / sum * v(b, d.kvHead(h), keys[i], f);
      }
  return out;
}

Tensor cascade_test::sigmoidAttention(const Tensor &qt, const Tensor &kt,
                                      const Tensor &vt) {
  Dims d(qt, kt, vt);
  View4 q{qt}, k{kt}, v{vt};
  Tensor out({d.B, d.H, d.P, d.F});
  double bias = -std::log(static_cast<double>(d.M));
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h)
      for (int64_t p = 0; p < d.P; ++p)
        for (int64_t m = 0; m < d.M; ++m) {
          double weight = 1.0 / (1.0 + std::exp(-(score(q, k, d, b, h, p, m) + bias)));
          for (int64_t f = 0; f < d.F; ++f)
            out.data[((b * d.H + h) * d.P + p) * d.F + f] +=
                weight * v(b, d.kvHead(h), m, f);
        }
  return out;
}

Tensor cascade_test::linearAttention(const Tensor &qt, const Tensor &kt,
                                     const Tensor &vt) {
  Dims d(qt, kt, vt);
  View4 q{qt}, k{kt}, v{vt};
  auto phi = [](double x) { return x > 0 ? x + 1.0 : std::exp(x); };
  Tensor out({d.B, d.H, d.P, d.F});
  // Quadratic form on purpose, (phi(Q) phi(K)^T) V: a different association
  // from the spec's phi(Q) (phi(K)^T V).
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h)
      for (int64_t p = 0; p < d.P; ++p) {
        double normaliser = 0;
        std::vector<double> numerator(d.F, 0.0);
        for (int64_t m = 0; m < d.M; ++m) {
          double similarity = 0;
          for (int64_t e = 0; e < d.E; ++e)
            similarity += phi(q(b, h, p, e)) * phi(k(b, d.kvHead(h), m, e));
          normaliser += similarity;
          for (int64_t f = 0; f < d.F; ++f)
            numerator[f] += similarity * v(b, d.kvHead(h), m, f);
        }
        for (int64_t f = 0; f < d.F; ++f)
          out.data[((b * d.H + h) * d.P + p) * d.F + f] =
              numerator[f] / normaliser;
      }
  return out;
}

Tensor cascade_test::weightedAttention(const Tensor &qt, const Tensor &kt,
                                       const Tensor &vt, bool causal,
                                       bool normalise,
                                       const KeyWeight &weight) {
  Dims d(qt, kt, vt);
  View4 v{vt};
  Tensor out({d.B, d.H, d.P, d.F});
  for (int64_t b = 0; b < d.B; ++b)
    for (int64_t h = 0; h < d.H; ++h)
      for (int64_t p = 0; p < d.P; ++p) {
        int64_t position = p + d.M - d.P;
        int64_t visible =
            causal ? std::clamp<int64_t>(position + 1, 0, d.M) : d.M;
        const double *query = &qt.data[((b * d.H + h) * d.P + p) * d.E];
        double *row = &out.data[((b * d.H + h) * d.P + p) * d.F];
        double total = 0;
        for (int64_t m = 0; m < visible; ++m) {
          const double *key =
              &kt.data[((b * d.Hkv + d.kvHead(h)) * d.M + m) * d.E];
          double w = weight(h, position, m, query, key, d.E);
          total += w;
          for (int64_t f = 0; f < d.F; ++f)
            row[f] += w * v(b, d.kvHead(h), m, f);
        }
        if (normalise && visible > 0)
          for (int64_t f = 0; f < d.F; ++f)
            row[f] /= total;
      }
  return out;
}
