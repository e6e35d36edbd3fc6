//===- AlgebraicLaws.h - Proving a rewrite's law for concrete bodies -*- C++ -*-===//
//
// Each pass-reducing rewrite is legal only if a law holds for the scalar
// bodies it moves around. A rewrite states its law as an equation between
// body applications (`LawProver::apply`) and asks `prove`; the prover adds
// what it knows about the functions involved as ground instances, and the
// assumption that the original computation divides by nonzero values.
//
// Known facts (docs/Passes.md, "Modelling functions"): for exp and exp2,
// f(u) * f(v) = f(u + v) for every pair of arguments u, v that occur,
// f(0) = 1 and f(u) > 0. Every other function (tanh, log, sqrt, ...) is
// uninterpreted, so a law that needs a property of it is refuted with a
// counterexample that picks a suitable interpretation.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_ALGEBRAICLAWS_H
#define CASCADE_ANALYSIS_ALGEBRAICLAWS_H

#include "cascade/Analysis/Z3BodyEncoder.h"

namespace mlir::cascade {

class LawProver {
public:
  LawProver() : encoder(context) {}

  z3::context &getContext() { return context; }

  /// A fresh real unknown, shown under `name` in counterexamples.
  z3::expr variable(llvm::StringRef name);
  z3::expr constant(double value) { return encoder.getRealConstant(value); }

  /// The body of `einsum` applied to `operands`; fails with `why` when the
  /// body has no model (see Z3BodyEncoder).
  FailureOr<z3::expr> apply(EinsumOp einsum, llvm::ArrayRef<z3::expr> operands,
                            std::string &why);

  /// `a (+) b` for a reduce operator. Fails for max/min identities, which
  /// are infinite: callers ask only about finite values.
  z3::expr combine(ReduceKind kind, const z3::expr &a, const z3::expr &b);

  /// Decides `lhs == rhs` for all values of the unknowns, with the known
  /// facts about the functions that occur and nonzero divisors assumed.
  ProofResult prove(const z3::expr &lhs, const z3::expr &rhs);

private:
  z3::context context;
  Z3BodyEncoder encoder;
};

/// The text of a refusal: "<rewrite> refused: <law> <status>", with the
/// counterexample when Z3 found one.
std::string describeRefusal(llvm::StringRef rewrite, llvm::StringRef law,
                            const ProofResult &result);

/// The text of a refusal because a body has no model in the encoding
/// (`why` as LawProver::apply reported it).
std::string describeUnmodelled(llvm::StringRef rewrite, llvm::StringRef why);

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_ALGEBRAICLAWS_H
