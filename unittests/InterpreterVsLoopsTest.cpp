//===- InterpreterVsLoopsTest.cpp - The interpreter against plain loops ---===//
//
// Runs every spec of variants/ through the reference interpreter and checks
// it against ReferenceLoops.cpp, on edge shapes: length 1, lengths that are
// not multiples of the partition, P != M, fully masked rows, GQA groups, and
// scores large enough that exp would overflow without the max shift.
//
//===----------------------------------------------------------------------===//

#include "ReferenceLoops.h"

#include "cascade/InitAllDialects.h"
#include "cascade/Interpreter/Interpreter.h"
#include "cascade/Support/Compare.h"
#include "cascade/Support/RandomInputs.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cmath>
#include <functional>

using namespace mlir;
using namespace mlir::cascade;
using namespace cascade_test;

namespace {

struct Shape {
  int64_t B, H, Hkv, P, M, E, F;
  /// Inputs are standard normal times this.
  double scale = 1.0;
};

std::string describe(const Shape &s) {
  return "B=" + std::to_string(s.B) + " H=" + std::to_string(s.H) +
         " Hkv=" + std::to_string(s.Hkv) + " P=" + std::to_string(s.P) +
         " M=" + std::to_string(s.M) + " E=" + std::to_string(s.E) +
         " F=" + std::to_string(s.F) + " scale=" + std::to_string(s.scale);
}

using Loops = std::function<Tensor(const Tensor &, const Tensor &,
                                   const Tensor &)>;

class InterpreterVsLoops : public ::testing::Test {
protected:
  InterpreterVsLoops() {
    DialectRegistry registry;
    registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// Parses variants/<name>.mlir (null if it does not parse).
  OwningOpRef<ModuleOp> loadVariant(StringRef name) {
    std::string path =
        (Twine(CASCADE_SOURCE_DIR) + "/variants/" + name + ".mlir").str();
    return parseSourceFile<ModuleOp>(path, &context);
  }

  /// Interprets variants/<name>.mlir and the loops on the same inputs. The
  /// spec's scalar arguments after Q, K, V (a window size) take `scalars`,
  /// else their `cascade.default`.
  void check(StringRef name, const Shape &shape, const Loops &loops,
             ArrayRef<int64_t> scalars = {},
             ArrayRef<Tensor> extraTensors = {}) {
    SCOPED_TRACE(name.str() + " " + describe(shape));
    OwningOpRef<ModuleOp> module = loadVariant(name);
    ASSERT_TRUE(module) << "cannot parse variants/" << name.str() << ".mlir";
    auto function = *module->getOps<func::FuncOp>().begin();

    Tensor q = makeRandomTensor({shape.B, shape.H, shape.P, shape.E}, 7, 0,
                                NpyDType::Float32);
    Tensor k = makeRandomTensor({shape.B, shape.Hkv, shape.M, shape.E}, 7, 1,
                                NpyDType::Float32);
    Tensor v = makeRandomTensor({shape.B, shape.Hkv, shape.M, shape.F}, 7, 2,
                                NpyDType::Float32);
    for (Tensor *t : {&q, &k})
      for (double &x : t->data)
        x *= shape.scale;

    // Tensor arguments after Q, K, V (document ids) come from
    // `extraTensors`, scalar ones from `scalars`.
    SmallVector<Tensor> inputs = {q, k, v};
    llvm::append_range(inputs, extraTensors);
    unsigned firstScalar = 3 + extraTensors.size();
    for (unsigned arg = firstScalar; arg < function.getNumArguments(); ++arg) {
      unsigned i = arg - firstScalar;
      auto fallback =
          function.getArgAttrOfType<IntegerAttr>(arg, "cascade.default");
      ASSERT_TRUE(i < scalars.size() || fallback);
      int64_t value = i < scalars.size() ? scalars[i] : fallback.getInt();
      inputs.push_back(Tensor::ofScalar(value));
    }
    FailureOr<SmallVector<Tensor>> results =
        interpretFunction(function, inputs);
    ASSERT_TRUE(succeeded(results));
    ASSERT_EQ(results->size(), 1u);
    Tensor expected = loops(q, k, v);
    const Tensor &actual = (*results)[0];
    ASSERT_EQ(actual.shape, expected.shape);
    EXPECT_EQ(countNonFinite(actual), 0);
    Comparison comparison = compareTensors(actual, expected, 1e-10, 1e-12);
    EXPECT_TRUE(comparison.agree())
        << comparison.mismatches << " mismatches, max abs error "
        << comparison.maxAbsError << ", first at "
        << formatIndex(actual, comparison.firstFailure);
    lastResult = actual;
  }

  /// Checks `name` (whose scalar argument is a size) at every size in
  /// `sizes` and every shape against the masked loops that see key `m`
  /// from position `q` when `visible(size, q, m)`.
  void checkMasked(StringRef name, ArrayRef<Shape> shapes,
                   ArrayRef<int64_t> sizes,
                   const std::function<bool(int64_t, int64_t, int64_t)> &visible) {
    for (int64_t size : sizes) {
      auto loops = [&](const Tensor &q, const Tensor &k, const Tensor &v) {
        return maskedSoftmaxAttention(
            q, k, v,
            [&](int64_t position, int64_t m) { return visible(size, position, m); });
      };
      for (const Shape &shape : shapes)
        check(name, shape, loops, {size});
    }
  }

  MLIRContext context;
  Tensor lastResult;
};

Tensor softmaxLoops(const Tensor &q, const Tensor &k, const Tensor &v) {
  return softmaxAttention(q, k, v, /*causal=*/false);
}
Tensor causalLoops(const Tensor &q, const Tensor &k, const Tensor &v) {
  return softmaxAttention(q, k, v, /*causal=*/true);
}

// Shapes for the non-grouped variants: length 1, small odd lengths, P != M
// both ways, M past one tile of 64 with a partial last tile.
const Shape kShapes[] = {
    {1, 1, 1, 1, 1, 8, 8},     {2, 3, 3, 17, 17, 8, 8},
    {1, 2, 2, 33, 100, 16, 8}, {1, 1, 1, 5, 130, 8, 4},
    {1, 1, 1, 40, 7, 4, 12},   {1, 2, 2, 9, 64, 8, 8},
};

TEST_F(InterpreterVsLoops, Softmax) {
  for (const Shape &shape : kShapes)
    check("softmax", shape, softmaxLoops);
}

TEST_F(InterpreterVsLoops, SoftmaxOnePassWithPartialTiles) {
  for (const Shape &shape : kShapes)
    check("softmax_onepass", shape, softmaxLoops);
}

TEST_F(InterpreterVsLoops, SoftmaxLargeScoresStayFinite) {
  // Scores of several hundred: exp overflows fp64 unless the max is
  // subtracted first, in both the 3-pass and the rescaled 1-pass form.
  Shape shape{1, 2, 2, 9, 150, 8, 8, 30.0};
  check("softmax", shape, softmaxLoops);
  check("softmax_onepass", shape, softmaxLoops);
}

TEST_F(InterpreterVsLoops, SoftmaxCausal) {
  for (const Shape &shape : kShapes)
    check("softmax_causal", shape, causalLoops);
}

TEST_F(InterpreterVsLoops, SoftmaxCausalFullyMaskedRowsAreZero) {
  // P > M: with the last query aligned to the last key, the first P - M
  // queries see no key at all.
  Shape shape{1, 2, 2, 9, 4, 8, 8};
  check("softmax_causal", shape, causalLoops);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t p = 0; p < 5; ++p)
      for (int64_t f = 0; f < 8; ++f)
        EXPECT_EQ(lastResult.data[(h * 9 + p) * 8 + f], 0.0);
}

// Lengths around and past the library's default sizes (256), P != M both
// ways, and rows of P > M that see no key.
const Shape kLongShapes[] = {
    {1, 1, 1, 300, 300, 4, 4}, {1, 2, 2, 40, 600, 4, 4},
    {1, 1, 1, 520, 260, 4, 4}, {1, 1, 1, 1, 1, 4, 4},
    {1, 1, 1, 3, 3, 4, 4},
};

TEST_F(InterpreterVsLoops, SoftmaxWindow) {
  // W = 256 (the default) against softmaxAttention's own window loops.
  auto windowLoops = [](const Tensor &q, const Tensor &k, const Tensor &v) {
    return softmaxAttention(q, k, v, /*causal=*/true, /*window=*/256);
  };
  for (const Shape &shape : kLongShapes)
    check("softmax_window", shape, windowLoops);
  // W is a runtime scalar: other windows, down to one key, and W > M.
  checkMasked("softmax_window", kShapes, {1, 17, 64, 256},
              [](int64_t w, int64_t position, int64_t m) {
                return m <= position && position - w < m;
              });
}

TEST_F(InterpreterVsLoops, SoftmaxDocument) {
  // Packed sequences: key m is visible from query p when both carry the same
  // document id of their batch and m <= p. The loops run each batch on its
  // own with that batch's ids. Ids: random segments (few, many, one
  // document per position) and one document for the whole row (causal).
  const Shape shapes[] = {{1, 1, 1, 1, 1, 8, 8},
                          {2, 3, 3, 17, 17, 8, 8},
                          {3, 2, 2, 130, 130, 8, 4},
                          {1, 1, 1, 64, 64, 4, 4}};
  for (int64_t segments : {1, 4, 40, 1000}) {
    for (const Shape &shape : shapes) {
      Tensor ids = makeRandomSegmentIds({shape.B, shape.M}, 11, 3, segments);
      auto loops = [&](const Tensor &q, const Tensor &k, const Tensor &v) {
        Tensor out({shape.B, shape.H, shape.P, shape.F});
        for (int64_t b = 0; b < shape.B; ++b) {
          auto slice = [&](const Tensor &t) {
            int64_t size = t.getNumElements() / t.shape[0];
            Tensor one(t.shape);
            one.shape[0] = 1;
            one.data.assign(t.data.begin() + b * size,
                            t.data.begin() + (b + 1) * size);
            return one;
          };
          const double *row = &ids.data[b * shape.M];
          Tensor batch = maskedSoftmaxAttention(
              slice(q), slice(k), slice(v), [&](int64_t position, int64_t m) {
                return m <= position && row[m] == row[position];
              });
          std::copy(batch.data.begin(), batch.data.end(),
                    out.data.begin() + b * batch.getNumElements());
        }
        return out;
      };
      check("softmax_document", shape, loops, {}, {ids});
    }
  }
}

TEST_F(InterpreterVsLoops, SoftmaxSinksWindow) {
  // Keys m <= q that are sinks (m < 4) or in the window (q - W < m): where
  // the two meet, where they are apart, and W > M (causal).
  auto visible = [](int64_t w, int64_t position, int64_t m) {
    return m <= position && (m < 4 || position - w < m);
  };
  checkMasked("softmax_sinks_window", kLongShapes, {256}, visible);
  checkMasked("softmax_sinks_window", kShapes, {1, 5, 30, 256}, visible);
}

TEST_F(InterpreterVsLoops, SoftmaxPrefixLM) {
  // Keys m < L (the prefix) or m <= q: rows of P > M see the prefix only.
  auto visible = [](int64_t l, int64_t position, int64_t m) {
    return m < l || m <= position;
  };
  checkMasked("softmax_prefix_lm", kLongShapes, {256}, visible);
  checkMasked("softmax_prefix_lm", kShapes, {1, 6, 40, 256}, visible);
}

TEST_F(InterpreterVsLoops, SoftmaxAlibi) {
  // Causal, score + 2^(-8 (h + 1) / H) (m - q): several heads (each its own
  // slope), P != M both ways.
  for (const Shape &shape : kShapes) {
    int64_t heads = shape.H;
    auto alibiLoops = [heads](const Tensor &q, const Tensor &k,
                              const Tensor &v) {
      return maskedSoftmaxAttention(
          q, k, v,
          [](int64_t position, int64_t m) { return m <= position; },
          [heads](int64_t h, int64_t position, int64_t m) {
            return std::exp2(-8.0 * (h + 1.0) / heads) *
                   static_cast<double>(m - position);
          });
    };
    check("softmax_alibi", shape, alibiLoops);
  }
}

TEST_F(InterpreterVsLoops, SoftmaxGroupedQuery) {
  const Shape shapes[] = {
      {2, 4, 2, 5, 7, 8, 8},  {1, 6, 3, 17, 33, 8, 4},
      {1, 3, 1, 1, 1, 8, 8},  {1, 8, 8, 3, 5, 4, 4},
  };
  for (const Shape &shape : shapes)
    check("softmax_gqa", shape, softmaxLoops);
}

TEST_F(InterpreterVsLoops, Sigmoid) {
  for (const Shape &shape : kShapes)
    check("sigmoid", shape, sigmoidAttention);
}

TEST_F(InterpreterVsLoops, Linear) {
  for (const Shape &shape : kShapes)
    check("linear", shape, linearAttention);
  for (const Shape &shape : kShapes)
    check("linear_associated", shape, linearAttention);
}

// The zoo of issue 11: each variant against its textbook definition as a
// weighted sum of values (weightedAttention), on kShapes (P > M rows of the
// causal ones see no key) and on scores large enough to saturate.
double dotOf(const double *x, const double *y, int64_t n) {
  double dot = 0;
  for (int64_t i = 0; i < n; ++i)
    dot += x[i] * y[i];
  return dot;
}

TEST_F(InterpreterVsLoops, Softplus) {
  auto loops = [](const Tensor &q, const Tensor &k, const Tensor &v) {
    return weightedAttention(
        q, k, v, /*causal=*/false, /*normalise=*/true,
        [](int64_t, int64_t, int64_t, const double *x, const double *y,
           int64_t e) {
          double s = dotOf(x, y, e) / std::sqrt(static_cast<double>(e));
          return s > 30 ? s + std::log1p(std::exp(-s))
                        : std::log1p(std::exp(s));
        });
  };
  for (const Shape &shape : kShapes)
    check("softplus", shape, loops);
  // Scores of +-hundreds: exp(s) would overflow fp32 in the naive form.
  check("softplus", Shape{1, 2, 2, 9, 70, 8, 8, 30.0}, loops);
}

TEST_F(InterpreterVsLoops, Relu) {
  for (const Shape &shape : kShapes) {
    double keys = static_cast<double>(shape.M);
    auto loops = [keys](const Tensor &q, const Tensor &k, const Tensor &v) {
      return weightedAttention(
          q, k, v, /*causal=*/false, /*normalise=*/false,
          [keys](int64_t, int64_t, int64_t, const double *x, const double *y,
                 int64_t e) {
            return std::max(dotOf(x, y, e) / std::sqrt(static_cast<double>(e)),
                            0.0) /
                   keys;
          });
    };
    check("relu", shape, loops);
  }
}

TEST_F(InterpreterVsLoops, GatedOutput) {
  for (const Shape &shape : kShapes) {
    Tensor gate = makeRandomTensor({shape.B, shape.H, shape.P, shape.F}, 7, 3,
                                   NpyDType::Float32);
    for (double &g : gate.data)
      g *= 3.0; // gates from nearly closed to nearly open
    auto loops = [&gate](const Tensor &q, const Tensor &k, const Tensor &v) {
      Tensor out = softmaxAttention(q, k, v, /*causal=*/false);
      for (size_t i = 0; i < out.data.size(); ++i)
        out.data[i] *= 1.0 / (1.0 + std::exp(-gate.data[i]));
      return out;
    };
    check("gated_output", shape, loops, {}, {gate});
  }
}

TEST_F(InterpreterVsLoops, LinearCausal) {
  auto phi = [](double x) { return x > 0 ? x + 1.0 : std::exp(x); };
  auto loops = [&](const Tensor &q, const Tensor &k, const Tensor &v) {
    return weightedAttention(
        q, k, v, /*causal=*/true, /*normalise=*/true,
        [&](int64_t, int64_t, int64_t, const double *x, const double *y,
            int64_t e) {
          double similarity = 0;
          for (int64_t i = 0; i < e; ++i)
            similarity += phi(x[i]) * phi(y[i]);
          return similarity;
        });
  };
  for (const Shape &shape : kShapes)
    check("linear_causal", shape, loops);
  // P > M: the first P - M queries see no key and are 0.
  Shape shape{1, 2, 2, 9, 4, 8, 8};
  check("linear_causal", shape, loops);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t p = 0; p < 5; ++p)
      for (int64_t f = 0; f < 8; ++f)
        EXPECT_EQ(lastResult.data[(h * 9 + p) * 8 + f], 0.0);
}

TEST_F(InterpreterVsLoops, Retention) {
  // gamma_h = 1 - 2^(-5-h), decay gamma_h^(q - m) by pow, not as written.
  auto loops = [](const Tensor &q, const Tensor &k, const Tensor &v) {
    return weightedAttention(
        q, k, v, /*causal=*/true, /*normalise=*/false,
        [](int64_t h, int64_t position, int64_t m, const double *x,
           const double *y, int64_t e) {
          double gamma = 1.0 - std::pow(2.0, -5.0 - h);
          return dotOf(x, y, e) / std::sqrt(static_cast<double>(e)) *
                 std::pow(gamma, static_cast<double>(position - m));
        });
  };
  for (const Shape &shape : kShapes)
    check("retention", shape, loops);
  check("retention", Shape{1, 8, 8, 40, 300, 4, 4}, loops);
}

TEST_F(InterpreterVsLoops, Lightning) {
  // exp(-slope_h (q - m)), slope_h = 2^(-8 (h + 1) / H): no scale, no
  // normaliser.
  for (const Shape &shape : kShapes) {
    double heads = static_cast<double>(shape.H);
    auto loops = [heads](const Tensor &q, const Tensor &k, const Tensor &v) {
      return weightedAttention(
          q, k, v, /*causal=*/true, /*normalise=*/false,
          [heads](int64_t h, int64_t position, int64_t m, const double *x,
                  const double *y, int64_t e) {
            double slope = std::pow(2.0, -8.0 * (h + 1) / heads);
            return dotOf(x, y, e) *
                   std::exp(-slope * static_cast<double>(position - m));
          });
    };
    check("lightning", shape, loops);
  }
}

TEST_F(InterpreterVsLoops, Based) {
  // BASED's Taylor feature map built explicitly, phi(x) = [1, x / E^(1/4),
  // (x (x) x) / (sqrt(2) sqrt(E))] (1 + E + E^2 features), and the causal
  // normalised linear attention over it: not the spec's 1 + s + s^2 / 2.
  auto features = [](const double *x, int64_t e) {
    std::vector<double> phi = {1.0};
    double root = std::sqrt(static_cast<double>(e));
    for (int64_t i = 0; i < e; ++i)
      phi.push_back(x[i] / std::sqrt(root));
    for (int64_t i = 0; i < e; ++i)
      for (int64_t j = 0; j < e; ++j)
        phi.push_back(x[i] * x[j] / (std::sqrt(2.0) * root));
    return phi;
  };
  auto loops = [&](const Tensor &q, const Tensor &k, const Tensor &v) {
    return weightedAttention(
        q, k, v, /*causal=*/true, /*normalise=*/true,
        [&](int64_t, int64_t, int64_t, const double *x, const double *y,
            int64_t e) {
          std::vector<double> fx = features(x, e), fy = features(y, e);
          return dotOf(fx.data(), fy.data(), static_cast<int64_t>(fx.size()));
        });
  };
  for (const Shape &shape : kShapes)
    check("based", shape, loops);
  // Large scores (s far below -1 and above 1) and P > M (rows with no key
  // are 0).
  check("based", Shape{1, 2, 2, 30, 20, 8, 8, 3.0}, loops);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t p = 0; p < 10; ++p)
      for (int64_t f = 0; f < 8; ++f)
        EXPECT_EQ(lastResult.data[(h * 30 + p) * 8 + f], 0.0);
}

TEST_F(InterpreterVsLoops, Hedgehog) {
  // Hedgehog's feature map as lolcats computes it: x W_h, then the
  // concatenation [softmax(x W), softmax(-x W)] of 2R features (each softmax
  // with its own max subtracted), dotted; causal, normalised.
  for (const Shape &shape : kShapes)
    for (int64_t r : {1, 5, 16}) {
      Tensor w = makeRandomTensor({shape.H, shape.E, r}, 7, 4,
                                  NpyDType::Float32);
      auto features = [&](int64_t h, const double *x, int64_t e) {
        std::vector<double> projected(r, 0.0), phi;
        for (int64_t j = 0; j < r; ++j)
          for (int64_t i = 0; i < e; ++i)
            projected[j] += x[i] * w.data[(h * e + i) * r + j];
        for (double sign : {1.0, -1.0}) {
          double top = -INFINITY, total = 0;
          for (double y : projected)
            top = std::max(top, sign * y);
          for (double y : projected)
            total += std::exp(sign * y - top);
          for (double y : projected)
            phi.push_back(std::exp(sign * y - top) / total);
        }
        return phi;
      };
      auto loops = [&](const Tensor &q, const Tensor &k, const Tensor &v) {
        return weightedAttention(
            q, k, v, /*causal=*/true, /*normalise=*/true,
            [&](int64_t h, int64_t, int64_t, const double *x,
                const double *y, int64_t e) {
              std::vector<double> fx = features(h, x, e),
                                  fy = features(h, y, e);
              return dotOf(fx.data(), fy.data(), 2 * r);
            });
      };
      check("hedgehog", shape, loops, {}, {w});
    }
}

TEST_F(InterpreterVsLoops, GatedLinearAttention) {
  // GLA's recurrent definition, step by step, against the spec's parallel
  // form: S_t = diag(exp(g_t)) S_{t-1} + K_t V_t^T, O_t = (Q_t / sqrt(E))^T
  // S_t with g = min(G, 0), P = M (and P < M: the last P positions are the
  // queries). Gates from slow (-0.02) to fast (-2) forgetting.
  OwningOpRef<ModuleOp> module = loadVariant("gla");
  ASSERT_TRUE(module);
  auto function = *module->getOps<func::FuncOp>().begin();
  for (Shape shape : {Shape{1, 2, 2, 9, 9, 4, 3}, Shape{2, 1, 1, 1, 1, 8, 8},
                      Shape{1, 2, 2, 5, 23, 8, 5}, Shape{1, 1, 1, 0, 4, 4, 4},
                      Shape{1, 1, 1, 70, 70, 6, 2}})
    for (double gateScale : {0.02, 2.0}) {
      SCOPED_TRACE(describe(shape) + " gates*" + std::to_string(gateScale));
      auto random = [](ArrayRef<int64_t> dims, uint64_t stream) {
        return makeRandomTensor(dims, 11, stream, NpyDType::Float32);
      };
      Tensor q = random({shape.B, shape.H, shape.P, shape.E}, 0);
      Tensor k = random({shape.B, shape.H, shape.M, shape.E}, 1);
      Tensor v = random({shape.B, shape.H, shape.M, shape.F}, 2);
      Tensor g = random({shape.B, shape.H, shape.M, shape.E}, 3);
      for (double &x : g.data)
        x = -std::abs(x) * gateScale;
      // A positive gate, clamped to 0 by the spec (at t = 1: the first
      // step's gate scales an empty state).
      if (shape.M > 1)
        g.data[shape.E] = 0.5;
      FailureOr<SmallVector<Tensor>> results =
          interpretFunction(function, {q, k, v, g});
      ASSERT_TRUE(succeeded(results));
      Tensor expected({shape.B, shape.H, shape.P, shape.F});
      for (int64_t b = 0; b < shape.B; ++b)
        for (int64_t h = 0; h < shape.H; ++h) {
          std::vector<double> state(shape.E * shape.F, 0.0);
          for (int64_t t = 0; t < shape.M; ++t) {
            auto at = [&](const Tensor &x, int64_t pos, int64_t i, int64_t n) {
              return x.data[((b * shape.H + h) * x.shape[2] + pos) * n + i];
            };
            for (int64_t e = 0; e < shape.E; ++e) {
              double decay = std::exp(std::min(at(g, t, e, shape.E), 0.0));
              for (int64_t f = 0; f < shape.F; ++f)
                state[e * shape.F + f] = decay * state[e * shape.F + f] +
                                         at(k, t, e, shape.E) *
                                             at(v, t, f, shape.F);
            }
            int64_t p = t - (shape.M - shape.P);
            if (p < 0)
              continue;
            for (int64_t f = 0; f < shape.F; ++f) {
              double sum = 0;
              for (int64_t e = 0; e < shape.E; ++e)
                sum += at(q, p, e, shape.E) / std::sqrt(double(shape.E)) *
                       state[e * shape.F + f];
              expected.data[((b * shape.H + h) * shape.P + p) * shape.F + f] =
                  sum;
            }
          }
        }
      EXPECT_EQ(countNonFinite((*results)[0]), 0);
      Comparison comparison =
          compareTensors((*results)[0], expected, 1e-10, 1e-12);
      EXPECT_TRUE(comparison.agree())
          << comparison.mismatches << " mismatches, max abs error "
          << comparison.maxAbsError;
    }
}

TEST_F(InterpreterVsLoops, Differential) {
  // (softmax(Q1 K1^T / sqrt(E)) - 0.5 softmax(Q2 K2^T / sqrt(E))) V, from
  // arguments (Q1, K1, Q2, K2, V): two plain softmax attentions subtracted.
  OwningOpRef<ModuleOp> module = loadVariant("differential");
  ASSERT_TRUE(module);
  auto function = *module->getOps<func::FuncOp>().begin();
  for (const Shape &shape : kShapes) {
    SCOPED_TRACE(describe(shape));
    auto random = [](ArrayRef<int64_t> dims, uint64_t stream) {
      return makeRandomTensor(dims, 9, stream, NpyDType::Float32);
    };
    Tensor q1 = random({shape.B, shape.H, shape.P, shape.E}, 0);
    Tensor k1 = random({shape.B, shape.H, shape.M, shape.E}, 1);
    Tensor q2 = random({shape.B, shape.H, shape.P, shape.E}, 2);
    Tensor k2 = random({shape.B, shape.H, shape.M, shape.E}, 3);
    Tensor v = random({shape.B, shape.H, shape.M, shape.F}, 4);
    FailureOr<SmallVector<Tensor>> results =
        interpretFunction(function, {q1, k1, q2, k2, v});
    ASSERT_TRUE(succeeded(results));
    Tensor expected = softmaxAttention(q1, k1, v, /*causal=*/false);
    Tensor second = softmaxAttention(q2, k2, v, /*causal=*/false);
    for (size_t i = 0; i < expected.data.size(); ++i)
      expected.data[i] -= 0.5 * second.data[i];
    EXPECT_EQ(countNonFinite((*results)[0]), 0);
    Comparison comparison =
        compareTensors((*results)[0], expected, 1e-10, 1e-12);
    EXPECT_TRUE(comparison.agree())
        << comparison.mismatches << " mismatches, max abs error "
        << comparison.maxAbsError;
  }
}

} // namespace
