//===- OpenBlasBaseline.h - Unfused attention with OpenBLAS --------*- C++ -*-===//
//
// The baseline `attn-run --bench --baseline openblas` measures against:
// per (b, h), S = Q K^T / sqrt(E) with cblas_sgemm, a row-wise softmax (or
// sigmoid) written as a plain loop, and O = S V with cblas_sgemm. fp32,
// SDPA layout, K/V heads shared by groups of H / HKV query heads, an
// optional bottom-right causal mask. The (b, h) pairs run on `threads`
// threads, each calling single-threaded sgemm.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_TOOLS_ATTNRUN_OPENBLASBASELINE_H
#define CASCADE_TOOLS_ATTNRUN_OPENBLASBASELINE_H

#include "cascade/Support/Tensor.h"

#include <vector>

namespace mlir::cascade {

enum class BaselineScore { Softmax, Sigmoid };

class OpenBlasAttention {
public:
  /// Q [B,H,P,E], K [B,HKV,M,E], V [B,HKV,M,F], converted to fp32 once.
  OpenBlasAttention(const Tensor &q, const Tensor &k, const Tensor &v,
                    BaselineScore score, bool causal);
  void run(int threads);
  Tensor getOutput() const;

private:
  int64_t b, h, hkv, p, m, e, f;
  BaselineScore score;
  bool causal;
  std::vector<float> q, k, v, out;
};

} // namespace mlir::cascade

#endif
