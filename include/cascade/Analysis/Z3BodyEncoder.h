//===- Z3BodyEncoder.h - Einsum bodies as Z3 terms ----------------*- C++ -*-===//
//
// The pass-reducing rewrites are legal only under algebraic laws of the
// user's scalar operators (distributivity over a reduction, exp's
// homomorphism for online rescaling). This encodes an Einsum body as a Z3
// real-arithmetic term so that such laws can be proved or refuted with a
// counterexample.
//
// Model: floats are reals (no rounding, no NaN/Inf); + - * / are exact;
// max/min/abs/select are if-then-else; transcendental functions (exp, log,
// tanh, sqrt, pow, ...) are uninterpreted functions, about which a proof
// knows only the axioms its caller adds (ground instances of a law at the
// terms in question, e.g. exp((x-b)+(b-a)) = exp(x-b)*exp(b-a): quantified
// axioms would make Z3 answer "unknown"); coordinates and extents are
// integers.
//
//===----------------------------------------------------------------------===//

#ifndef CASCADE_ANALYSIS_Z3BODYENCODER_H
#define CASCADE_ANALYSIS_Z3BODYENCODER_H

#include "cascade/Dialect/Cascade/IR/CascadeOps.h"

#include <z3++.h>

#include <functional>
#include <map>
#include <string>

namespace mlir::cascade {

class Z3BodyEncoder {
public:
  explicit Z3BodyEncoder(z3::context &context) : context(context) {}

  /// The term the body of `einsum` computes, with its block arguments bound
  /// to `operands` (one real term each). Fails with `why` set on an op the
  /// model does not cover (integer division but floordivsi, bit operations, infinite or
  /// NaN constants, ...).
  FailureOr<z3::expr> encode(EinsumOp einsum, ArrayRef<z3::expr> operands,
                             std::string &why);

  /// The uninterpreted function a math op stands for, named after the op
  /// ("math.exp", "math.tanh", ...), shared by every encoding with this
  /// encoder so that laws stated about it apply.
  z3::func_decl getFunction(llvm::StringRef name, unsigned arity);

  /// The integer constant for the coordinate of `rank` or the extent of
  /// `rank`; extents are known to be positive (see getSideConditions).
  z3::expr getCoordinate(llvm::StringRef rank);
  z3::expr getExtent(llvm::StringRef rank);

  /// Facts every encoding relies on: extents >= 1, 0 <= coordinate < extent.
  z3::expr_vector getSideConditions();

  /// floor(a / b) of two integer-valued terms (arith.floordivsi), real.
  static z3::expr floorDivide(const z3::expr &a, const z3::expr &b);

  /// An exact rational for a finite double.
  z3::expr getRealConstant(double value);

  /// The coordinates and extents created so far, by rank.
  const std::map<std::string, z3::expr> &getCoordinates() const {
    return coordinates;
  }
  const std::map<std::string, z3::expr> &getExtents() const { return extents; }

private:
  z3::context &context;
  std::map<std::string, z3::func_decl> functions;
  std::map<std::string, z3::expr> coordinates;
  std::map<std::string, z3::expr> extents;
};

enum class ProofStatus { Proved, Refuted, Unknown };

struct ProofResult {
  ProofStatus status;
  /// For Refuted: Z3's model, a counterexample to the claim.
  std::string counterexample;
};

/// Decides `lhs == rhs` for all values of their free constants under
/// `assumptions` (axioms about the uninterpreted functions, side
/// conditions). Bounded by `timeoutMs`.
ProofResult proveEqual(z3::context &context, const z3::expr &lhs,
                       const z3::expr &rhs, const z3::expr_vector &assumptions,
                       unsigned timeoutMs = 5000);

/// Decides whether `claim` (a Boolean term) holds for all values of its
/// free constants under `assumptions`. A counterexample lists the
/// constants' values, or, with `describe` set, what it makes of the model.
ProofResult proveValid(
    z3::context &context, const z3::expr &claim,
    const z3::expr_vector &assumptions, unsigned timeoutMs = 5000,
    std::function<std::string(z3::model &)> describe = nullptr);

/// proveValid remembers the claims it proved for the rest of the process
/// (a repeated query, as each variant's rewrites ask again per function,
/// is answered from memory). The memory is bounded: where a new proof
/// would take it past the limit (16 MiB of query keys by default, far
/// more than compiling the whole library asks), it starts afresh. A
/// long-running embedder may also drop it.
size_t getProofMemoryBytes();
void clearProofMemory();
/// Sets the bound in bytes and returns the previous one.
size_t setProofMemoryLimit(size_t bytes);

} // namespace mlir::cascade

#endif // CASCADE_ANALYSIS_Z3BODYENCODER_H
