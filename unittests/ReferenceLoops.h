//===- ReferenceLoops.h - Attention as plain C++ loops ------------*- C++ -*-===//
//
// Independent implementations of the variants, written from their textbook
// definitions with no knowledge of cascades: the check that the interpreter
// is not its own oracle.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_UNITTESTS_REFERENCELOOPS_H
#define CASCADE_UNITTESTS_REFERENCELOOPS_H

#include "cascade/Support/Tensor.h"

#include <functional>

namespace cascade_test {

using mlir::cascade::Tensor;

/// softmax(Q K^T / sqrt(E)) V with Q [B,H,P,E], K [B,Hkv,M,E], V [B,Hkv,M,F];
/// query head h reads key/value head h / (H / Hkv). With `causal`, query p
/// sees key m iff m <= p + M - P; with `window` > 0 also only if
/// m > p + M - P - window. A query that sees no key yields 0.
Tensor softmaxAttention(const Tensor &q, const Tensor &k, const Tensor &v,
                        bool causal, int64_t window = 0);

/// softmax attention where query p sees key m iff `visible(p + M - P, m)`
/// (the query's position, bottom-right aligned, and the key's), with
/// `bias(h, p + M - P, m)` added to each score when given; a query that
/// sees no key yields 0.
Tensor maskedSoftmaxAttention(
    const Tensor &q, const Tensor &k, const Tensor &v,
    const std::function<bool(int64_t position, int64_t key)> &visible,
    const std::function<double(int64_t head, int64_t position, int64_t key)>
        &bias = {});

/// sigmoid(Q K^T / sqrt(E) - ln M) V.
Tensor sigmoidAttention(const Tensor &q, const Tensor &k, const Tensor &v);

/// phi(Q) (phi(K)^T V) / (phi(Q) . sum_m phi(K)), phi(x) = elu(x) + 1.
Tensor linearAttention(const Tensor &q, const Tensor &k, const Tensor &v);

/// The weight of key `key` for the query at `position` of head `head`:
/// `query` and `key` point at the E values of Q[b,h,p,:] and K[b,hkv,m,:].
using KeyWeight = std::function<double(int64_t head, int64_t position,
                                       int64_t keyIndex, const double *query,
                                       const double *key, int64_t E)>;

/// sum_m w(m) V_m over the keys visible from each query (every key, or with
/// `causal` the keys m <= p + M - P), divided by sum_m w(m) when `normalise`
/// (a query that sees no key yields 0). Kernel, linear and decayed
/// attention written as what they are: a weighted sum of values.
Tensor weightedAttention(const Tensor &q, const Tensor &k, const Tensor &v,
                         bool causal, bool normalise, const KeyWeight &weight);

} // namespace cascade_test

#endif // CASCADE_UNITTESTS_REFERENCELOOPS_H
