//===- IeeeBodyEncoder.h - Einsum bodies over the extended reals --*- C++ -*-===//
//
// The real-arithmetic model (Z3BodyEncoder) proves a rewrite's algebra, but
// it has no infinities and no NaN, and those are where the rewrites went
// wrong: a score masked to -inf makes a 1-pass form compute
// exp(-inf - -inf) = NaN where the 3-pass form is finite. This encodes a body
// over the *extended reals*: a value is finite (an exact real), +inf, -inf or
// NaN, and every op follows IEEE 754's rules for the special values
// (inf - inf = NaN, 0 * inf = NaN, x / 0 = +-inf, exp(-inf) = 0, max
// propagates NaN, ordered comparisons with NaN are false, ...). Finite values
// are exact: rounding and overflow stay outside the model, as before.
//
// A value is a pair of Z3 terms (kind, real), with real = 0 unless the kind
// is finite, so two values are the same exactly when both terms are equal.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_IEEEBODYENCODER_H
#define CASCADE_ANALYSIS_IEEEBODYENCODER_H

#include "cascade/Analysis/Z3BodyEncoder.h"

#include <cstdint>
#include <set>
#include <vector>

namespace mlir::cascade {

/// Which kinds of value a tensor may hold: a set of these bits.
enum FloatClass : uint8_t {
  kFinite = 1,
  kPosInf = 2,
  kNegInf = 4,
  kNaN = 8,
  kAnyFloat = 15,
};
using FloatClasses = uint8_t;

/// "{finite, -inf}"
std::string describeClasses(FloatClasses classes);

struct ExtendedValue {
  z3::expr kind; ///< 0 finite, 1 +inf, 2 -inf, 3 NaN.
  z3::expr real; ///< The value when finite, else 0.
};

class IeeeBodyEncoder {
public:
  /// Shares `reals`' uninterpreted functions, coordinates and extents, so
  /// that laws stated about one apply to terms built by the other.
  explicit IeeeBodyEncoder(Z3BodyEncoder &reals, z3::context &context)
      : reals(reals), context(context) {}

  ExtendedValue finite(const z3::expr &real);
  ExtendedValue posInf();
  ExtendedValue negInf();
  ExtendedValue nan();
  ExtendedValue constant(double value);
  /// A fresh unknown value named `name` (its kind and real are constants).
  ExtendedValue variable(llvm::StringRef name);

  z3::expr isFinite(const ExtendedValue &v) { return v.kind == 0; }
  z3::expr isNaN(const ExtendedValue &v) { return v.kind == 3; }
  z3::expr isZero(const ExtendedValue &v) { return v.kind == 0 && v.real == 0; }
  /// `v` is one of `classes`.
  z3::expr inClasses(const ExtendedValue &v, FloatClasses classes);
  /// The same value (NaN is the same as NaN): what "the rewrite computes
  /// the spec's value" means.
  z3::expr same(const ExtendedValue &a, const ExtendedValue &b);
  /// IEEE's ordered a <= b and a < b (false when either is NaN).
  z3::expr lessEqual(const ExtendedValue &a, const ExtendedValue &b);
  z3::expr less(const ExtendedValue &a, const ExtendedValue &b);

  ExtendedValue add(const ExtendedValue &a, const ExtendedValue &b);
  ExtendedValue negate(const ExtendedValue &a);
  ExtendedValue subtract(const ExtendedValue &a, const ExtendedValue &b) {
    return add(a, negate(b));
  }
  ExtendedValue multiply(const ExtendedValue &a, const ExtendedValue &b);
  ExtendedValue divide(const ExtendedValue &a, const ExtendedValue &b);
  /// arith.maximumf / minimumf: NaN if either is NaN.
  ExtendedValue maximum(const ExtendedValue &a, const ExtendedValue &b);
  ExtendedValue minimum(const ExtendedValue &a, const ExtendedValue &b);
  ExtendedValue select(const z3::expr &condition, const ExtendedValue &a,
                       const ExtendedValue &b);

  /// The value the body of `einsum` computes at a point of its domain, with
  /// its block arguments bound to `operands`. The extents of the Einsum's
  /// own ranks are at least 1 there (a point exists); see
  /// getSideConditions. Every divisor the body divides by is appended to
  /// `divisors` (so that a caller can assume the spec's own divisions are
  /// by nonzero values). Fails with `why` on an op the model does not cover.
  FailureOr<ExtendedValue> encode(EinsumOp einsum,
                                  ArrayRef<ExtendedValue> operands,
                                  std::string &why,
                                  SmallVectorImpl<ExtendedValue> *divisors =
                                      nullptr);

  /// 0 <= coordinate < extent for every coordinate used, extent >= 0 for
  /// every extent, and extent >= 1 for the ranks of the Einsums encoded so
  /// far (their bodies run only at points of their domain).
  z3::expr_vector getSideConditions();

private:
  ExtendedValue make(const z3::expr &kind, const z3::expr &real);
  /// IEEE special values of a math function of one argument; nullopt when
  /// the function has no table (it is then uninterpreted in every part).
  std::optional<ExtendedValue> applyKnownFunction(llvm::StringRef name,
                                                  const ExtendedValue &a);
  ExtendedValue applyUnknownFunction(llvm::StringRef name,
                                     ArrayRef<ExtendedValue> args);

  Z3BodyEncoder &reals;
  z3::context &context;
  std::set<std::string> nonEmptyRanks;
  std::vector<z3::expr> axioms;
  unsigned freshCount = 0;
};

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_IEEEBODYENCODER_H
