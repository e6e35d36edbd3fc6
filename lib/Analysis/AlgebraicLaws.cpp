//===- AlgebraicLaws.cpp - Proving a rewrite's law for concrete bodies ----===//

#include "cascade/Analysis/AlgebraicLaws.h"

#include "llvm/ADT/STLExtras.h"

#include <set>

using namespace mlir;
using namespace mlir::cascade;

z3::expr LawProver::variable(StringRef name) {
  return context.real_const(name.str().c_str());
}

FailureOr<z3::expr> LawProver::apply(EinsumOp einsum,
                                     ArrayRef<z3::expr> operands,
                                     std::string &why) {
  return encoder.encode(einsum, operands, why);
}

z3::expr LawProver::combine(ReduceKind kind, const z3::expr &a,
                            const z3::expr &b) {
  switch (kind) {
  case ReduceKind::add:
    return a + b;
  case ReduceKind::mul:
    return a * b;
  case ReduceKind::max:
    return z3::ite(a >= b, a, b);
  case ReduceKind::min:
    return z3::ite(a <= b, a, b);
  }
  llvm_unreachable("unknown reduce operator");
}

namespace {

/// Collects the arguments of exponential applications and every divisor in
/// a term, without revisiting shared subterms.
struct TermFacts {
  std::map<std::string, std::vector<z3::expr>> exponentialArguments;
  std::vector<z3::expr> divisors;
  std::set<unsigned> seen;

  void collect(const z3::expr &term) {
    if (!seen.insert(term.id()).second || !term.is_app())
      return;
    z3::func_decl decl = term.decl();
    std::string name = decl.name().str();
    if ((name == "math.exp" || name == "math.exp2") && term.num_args() == 1)
      exponentialArguments[name].push_back(term.arg(0));
    if (decl.decl_kind() == Z3_OP_DIV && term.num_args() == 2)
      divisors.push_back(term.arg(1));
    for (unsigned i = 0; i < term.num_args(); ++i)
      collect(term.arg(i));
  }
};

/// Ground instances of what is known about exp and exp2 at the arguments
/// that occur in `facts`.
void addExponentialFacts(Z3BodyEncoder &encoder, z3::context &context,
                         const TermFacts &facts,
                         z3::expr_vector &assumptions) {
  for (auto &[name, arguments] : facts.exponentialArguments) {
    z3::func_decl f = encoder.getFunction(name, 1);
    z3::expr zero = context.real_val(0);
    assumptions.push_back(f(zero) == 1);
    for (const z3::expr &u : arguments) {
      assumptions.push_back(f(u) > 0);
      // Strictly increasing: a decay rate log2(1 - exp2(-5 - h)) is finite
      // because -5 - h < 0 gives exp2(-5 - h) < 1.
      assumptions.push_back(z3::implies(u < 0, f(u) < 1));
      assumptions.push_back(z3::implies(u > 0, f(u) > 1));
      for (const z3::expr &v : arguments) {
        assumptions.push_back(f(u) * f(v) == f(u + v));
        assumptions.push_back(z3::implies(u < v, f(u) < f(v)));
      }
    }
  }
}

} // namespace

ProofResult LawProver::prove(const z3::expr &lhs, const z3::expr &rhs) {
  TermFacts facts;
  facts.collect(lhs);
  facts.collect(rhs);
  z3::expr_vector assumptions = encoder.getSideConditions();
  for (const z3::expr &divisor : facts.divisors)
    assumptions.push_back(divisor != 0);
  addExponentialFacts(encoder, context, facts, assumptions);
  return proveEqual(context, lhs, rhs, assumptions);
}

ExtendedValue LawProver::extendedVariable(StringRef name,
                                          FloatClasses classes) {
  ExtendedValue value = ieee.variable(name);
  extendedVariables.emplace_back(name.str(), value);
  extendedAssumptions.push_back(ieee.inClasses(value, classes));
  return value;
}

FailureOr<ExtendedValue>
LawProver::applyExtended(EinsumOp einsum, ArrayRef<ExtendedValue> operands,
                         std::string &why, bool isSpec) {
  SmallVector<ExtendedValue> divisors;
  FailureOr<ExtendedValue> value =
      ieee.encode(einsum, operands, why, isSpec ? &divisors : nullptr);
  for (const ExtendedValue &divisor : divisors)
    extendedAssumptions.push_back(!ieee.isZero(divisor));
  return value;
}

ProofResult LawProver::proveExtended(const z3::expr &claim,
                                     const z3::expr &premise) {
  TermFacts facts;
  facts.collect(claim);
  facts.collect(premise);
  z3::expr_vector assumptions = ieee.getSideConditions();
  for (const z3::expr &assumption : extendedAssumptions)
    assumptions.push_back(assumption);
  assumptions.push_back(premise);
  addExponentialFacts(encoder, context, facts, assumptions);
  auto describe = [&](z3::model &model) {
    std::string text;
    for (auto &[name, value] : extendedVariables) {
      int64_t kind = model.eval(value.kind, true).get_numeral_int64();
      std::string shown = kind == 1   ? "+inf"
                          : kind == 2 ? "-inf"
                          : kind == 3 ? "NaN"
                                      : model.eval(value.real, true).to_string();
      text += (text.empty() ? "" : ", ") + name + " = " + shown;
    }
    return text;
  };
  return proveValid(context, claim, assumptions, 5000, describe);
}

std::string mlir::cascade::describeRefusal(StringRef rewrite, StringRef law,
                                           const ProofResult &result) {
  std::string text = (rewrite + " refused: the law " + law).str();
  switch (result.status) {
  case ProofStatus::Proved:
    return text + " holds";
  case ProofStatus::Refuted:
    return text + " does not hold for these bodies; Z3's counterexample: " +
           (result.counterexample.empty() ? std::string("(any values)")
                                          : result.counterexample);
  case ProofStatus::Unknown:
    return text + " could not be proved (" + result.counterexample + ")";
  }
  return text;
}

std::string mlir::cascade::describeUnmodelled(StringRef rewrite,
                                              StringRef why) {
  return (rewrite + " refused: the bodies cannot be modelled (" + why + ")")
      .str();
}
