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

#include "cascade/Analysis/IeeeBodyEncoder.h"

namespace mlir::cascade {

class LawProver {
public:
  LawProver() : encoder(context), ieee(encoder, context) {}

  z3::context &getContext() { return context; }

  /// A fresh real unknown, shown under `name` in counterexamples.
  z3::expr variable(llvm::StringRef name);
  z3::expr constant(double value) { return encoder.getRealConstant(value); }

  /// The real-arithmetic encoder `apply` uses: its coordinates, extents and
  /// function symbols, for stating the expected form of a body.
  Z3BodyEncoder &reals() { return encoder; }

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

  //===--------------------------------------------------------------------===//
  // The extended reals (IeeeBodyEncoder): infinities, NaN, empty domains.
  //===--------------------------------------------------------------------===//

  IeeeBodyEncoder &extended() { return ieee; }

  /// A fresh extended value of one of `classes`, shown under `name` in
  /// counterexamples ("x = -inf").
  ExtendedValue extendedVariable(llvm::StringRef name, FloatClasses classes);

  /// The body of `einsum` applied to `operands` in the extended model. With
  /// `isSpec` set, the application stands for one the spec itself performs,
  /// so its divisors are assumed nonzero: a spec that divides by zero has
  /// no value there to preserve (docs/Passes.md).
  FailureOr<ExtendedValue> applyExtended(EinsumOp einsum,
                                         llvm::ArrayRef<ExtendedValue> operands,
                                         std::string &why, bool isSpec);

  /// Decides whether `claim` holds whenever `premise` does, for all values
  /// of the extended variables in their classes, with the known facts about
  /// the functions that occur. Counterexamples name the extended variables.
  ProofResult proveExtended(const z3::expr &claim, const z3::expr &premise);

private:
  z3::context context;
  Z3BodyEncoder encoder;
  IeeeBodyEncoder ieee;
  std::vector<std::pair<std::string, ExtendedValue>> extendedVariables;
  std::vector<z3::expr> extendedAssumptions;
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
