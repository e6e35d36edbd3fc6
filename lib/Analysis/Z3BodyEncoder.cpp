//===- Z3BodyEncoder.cpp - Einsum bodies as Z3 terms ----------------------===//
//
// Walks the scalar ops of a body in order, mapping each SSA value to a Z3
// term (reals for numbers, Booleans for i1).
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/Z3BodyEncoder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "llvm/ADT/APInt.h"
#include "llvm/ADT/DenseMap.h"

#include <cmath>
#include <mutex>
#include <string>
#include <functional>
#include <unordered_set>

using namespace mlir;
using namespace mlir::cascade;

z3::func_decl Z3BodyEncoder::getFunction(StringRef name, unsigned arity) {
  std::string key = name.str() + "/" + std::to_string(arity);
  auto it = functions.find(key);
  if (it != functions.end())
    return it->second;
  z3::sort_vector domain(context);
  for (unsigned i = 0; i < arity; ++i)
    domain.push_back(context.real_sort());
  z3::func_decl function =
      context.function(name.str().c_str(), domain, context.real_sort());
  functions.emplace(key, function);
  return function;
}

z3::expr Z3BodyEncoder::getCoordinate(StringRef rank) {
  auto it = coordinates.find(rank.str());
  if (it != coordinates.end())
    return it->second;
  z3::expr coordinate = context.int_const(("coord_" + rank).str().c_str());
  coordinates.emplace(rank.str(), coordinate);
  return coordinate;
}

z3::expr Z3BodyEncoder::floorDivide(const z3::expr &a, const z3::expr &b) {
  auto real = [](const z3::expr &e) { return e.is_int() ? z3::to_real(e) : e; };
  z3::expr quotient = real(a) / real(b);
  // real2int is the floor.
  Z3_ast floor = Z3_mk_real2int(quotient.ctx(), quotient);
  quotient.check_error();
  return z3::to_real(z3::expr(quotient.ctx(), floor));
}

z3::expr Z3BodyEncoder::getExtent(StringRef rank) {
  auto it = extents.find(rank.str());
  if (it != extents.end())
    return it->second;
  z3::expr extent = context.int_const(getExtentName(rank).c_str());
  extents.emplace(rank.str(), extent);
  return extent;
}

z3::expr_vector Z3BodyEncoder::getSideConditions() {
  z3::expr_vector conditions(context);
  for (auto &[rank, extent] : extents)
    conditions.push_back(extent >= 1);
  for (auto &[rank, coordinate] : coordinates) {
    conditions.push_back(coordinate >= 0);
    auto extent = extents.find(rank);
    if (extent != extents.end())
      conditions.push_back(coordinate < extent->second);
  }
  return conditions;
}

z3::expr Z3BodyEncoder::getRealConstant(double value) {
  // value = mantissa * 2^exponent exactly, with a 53-bit integer mantissa.
  int exponent;
  double fraction = std::frexp(value, &exponent);
  auto mantissa = static_cast<int64_t>(std::ldexp(fraction, 53));
  exponent -= 53;
  llvm::APInt numerator(1100, static_cast<uint64_t>(std::llabs(mantissa)));
  llvm::APInt denominator(1100, 1);
  if (exponent >= 0)
    numerator <<= exponent;
  else
    denominator <<= -exponent;
  std::string text = (mantissa < 0 ? "-" : "") +
                     llvm::toString(numerator, 10, false) + "/" +
                     llvm::toString(denominator, 10, false);
  return context.real_val(text.c_str());
}

namespace {
std::optional<z3::expr> encodeCmpF(arith::CmpFPredicate predicate,
                                   const z3::expr &a, const z3::expr &b) {
  // Reals have no NaN: ordered and unordered predicates coincide.
  using P = arith::CmpFPredicate;
  switch (predicate) {
  case P::OEQ: case P::UEQ: return a == b;
  case P::OGT: case P::UGT: return a > b;
  case P::OGE: case P::UGE: return a >= b;
  case P::OLT: case P::ULT: return a < b;
  case P::OLE: case P::ULE: return a <= b;
  case P::ONE: case P::UNE: return a != b;
  default: return std::nullopt;
  }
}

} // namespace

FailureOr<z3::expr> Z3BodyEncoder::encode(EinsumOp einsum,
                                          ArrayRef<z3::expr> operands,
                                          std::string &why) {
  Block &block = einsum.getBodyBlock();
  if (operands.size() != block.getNumArguments()) {
    why = "expected one term per operand";
    return failure();
  }
  try {
    llvm::DenseMap<Value, unsigned> index;
    std::vector<z3::expr> terms;
    auto bind = [&](Value value, const z3::expr &term) {
      index[value] = terms.size();
      terms.push_back(term);
    };
    for (auto [arg, operand] : llvm::zip(block.getArguments(), operands))
      bind(arg, operand);
    auto term = [&](Value value) { return terms[index.lookup(value)]; };
    auto asReal = [&](const z3::expr &e) {
      return e.is_int() ? z3::to_real(e) : e;
    };

    for (Operation &op : block) {
      if (auto yield = dyn_cast<YieldOp>(op))
        return asReal(term(yield.getValues()[0]));
      std::optional<z3::expr> result;
      auto a = [&]() { return asReal(term(op.getOperand(0))); };
      auto b = [&]() { return asReal(term(op.getOperand(1))); };
      if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
        if (auto floatAttr = dyn_cast<FloatAttr>(constant.getValue())) {
          double value = floatAttr.getValueAsDouble();
          if (!std::isfinite(value)) {
            why = "the constant " + std::to_string(value) +
                  " is not a real number";
            return failure();
          }
          result = getRealConstant(value);
        } else if (auto intAttr = dyn_cast<IntegerAttr>(constant.getValue())) {
          if (intAttr.getType().isInteger(1))
            result = context.bool_val(intAttr.getValue().getBoolValue());
          else
            result = context.real_val(
                std::to_string(intAttr.getValue().getSExtValue()).c_str());
        }
      } else if (auto coordinate = dyn_cast<IndexOp>(op)) {
        result = z3::to_real(getCoordinate(coordinate.getRank()));
      } else if (auto extent = dyn_cast<ExtentOp>(op)) {
        result = z3::to_real(getExtent(extent.getRank()));
      } else if (isa<arith::AddFOp, arith::AddIOp>(op)) {
        result = a() + b();
      } else if (isa<arith::SubFOp, arith::SubIOp>(op)) {
        result = a() - b();
      } else if (isa<arith::MulFOp, arith::MulIOp>(op)) {
        result = a() * b();
      } else if (isa<arith::DivFOp>(op)) {
        result = a() / b();
      } else if (isa<arith::FloorDivSIOp>(op)) {
        result = floorDivide(a(), b());
      } else if (isa<arith::NegFOp>(op)) {
        result = -a();
      } else if (isa<arith::MaximumFOp, arith::MaxNumFOp>(op)) {
        result = z3::ite(a() >= b(), a(), b());
      } else if (isa<arith::MinimumFOp, arith::MinNumFOp>(op)) {
        result = z3::ite(a() <= b(), a(), b());
      } else if (isa<math::AbsFOp>(op)) {
        result = z3::ite(a() >= 0, a(), -a());
      } else if (isa<math::FmaOp>(op)) {
        result = a() * b() + asReal(term(op.getOperand(2)));
      } else if (auto cmp = dyn_cast<arith::CmpFOp>(op)) {
        result = encodeCmpF(cmp.getPredicate(), a(), b());
      } else if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
        result = compareIntegers(cmp.getPredicate(), a(), b());
      } else if (isa<arith::SelectOp>(op)) {
        z3::expr condition = term(op.getOperand(0));
        result = z3::ite(condition, b(), asReal(term(op.getOperand(2))));
      } else if (isa<arith::AndIOp>(op) && op.getResult(0).getType().isInteger(1)) {
        result = term(op.getOperand(0)) && term(op.getOperand(1));
      } else if (isa<arith::OrIOp>(op) && op.getResult(0).getType().isInteger(1)) {
        result = term(op.getOperand(0)) || term(op.getOperand(1));
      } else if (isa<arith::ExtFOp, arith::TruncFOp, arith::IndexCastOp,
                     arith::SIToFPOp, arith::ExtSIOp>(op)) {
        result = term(op.getOperand(0)); // Exact in the real model.
      } else if (isa<math::MathDialect>(op.getDialect()) &&
                 isa<FloatType>(op.getResult(0).getType()) &&
                 llvm::all_of(op.getOperandTypes(), llvm::IsaPred<FloatType>)) {
        // Any other float function (exp, log, tanh, pow, ...) is the
        // uninterpreted function named after the op: "math.exp".
        z3::func_decl decl =
            getFunction(op.getName().getStringRef(), op.getNumOperands());
        z3::expr_vector arguments(context);
        for (Value operand : op.getOperands())
          arguments.push_back(asReal(term(operand)));
        result = decl(arguments);
      }
      if (!result) {
        why = "'" + op.getName().getStringRef().str() +
              "' has no model in the real-arithmetic encoding";
        return failure();
      }
      bind(op.getResult(0), *result);
    }
    why = "the body has no cascade.yield";
    return failure();
  } catch (const z3::exception &error) {
    why = std::string("Z3: ") + error.msg();
    return failure();
  }
}

ProofResult mlir::cascade::proveEqual(z3::context &context,
                                      const z3::expr &lhs, const z3::expr &rhs,
                                      const z3::expr_vector &assumptions,
                                      unsigned timeoutMs) {
  try {
    return proveValid(context, lhs == rhs, assumptions, timeoutMs);
  } catch (const z3::exception &error) {
    return {ProofStatus::Unknown, std::string("Z3: ") + error.msg()};
  }
}

namespace {
/// Asks `solver` whether `assumptions` and not `claim` can hold together.
z3::check_result findCounterexample(z3::solver &solver, z3::context &context,
                                    const z3::expr &claim,
                                    const z3::expr_vector &assumptions,
                                    unsigned timeoutMs) {
  z3::params params(context);
  params.set("timeout", timeoutMs);
  solver.set(params);
  for (unsigned i = 0; i < assumptions.size(); ++i)
    solver.add(assumptions[i]);
  solver.add(!claim);
  return solver.check();
}
} // namespace

namespace {
/// The claims proved so far in this process, as text (assumptions and
/// claim). A proof does not depend on who asks, so a repeated query is
/// answered from here: the GPU backend schedules a spec twice where it
/// chooses a smaller key tile, and minimize-passes asks the same laws
/// again at every tile size. Only proofs are kept: a refutation's message
/// is its caller's description of the model.
class ProvedClaims {
public:
  /// The query as text, one entry per node of its DAG in post order: the
  /// function (name, kind, parameters) or numeral, its sort (so that
  /// `(= a b)` over reals and over floats differ) and its arguments'
  /// entries. Z3's own printers are not used: to_string costs about a
  /// millisecond per query (more than a cached answer saves), and after an
  /// SMT-LIB print a later check in the same context ran past its timeout.
  static std::string keyOf(const z3::expr &claim,
                           const z3::expr_vector &assumptions) {
    std::string key;
    llvm::DenseMap<unsigned, unsigned> entries;
    llvm::DenseMap<unsigned, std::string> sorts;
    auto sortOf = [&](const z3::expr &expr) -> const std::string & {
      z3::sort sort = expr.get_sort();
      auto [it, inserted] = sorts.try_emplace(sort.id());
      if (inserted)
        it->second = sort.to_string();
      return it->second;
    };
    std::function<unsigned(const z3::expr &)> visit =
        [&](const z3::expr &expr) -> unsigned {
      auto known = entries.find(expr.id());
      if (known != entries.end())
        return known->second;
      std::string entry;
      if (expr.is_numeral()) {
        entry = "#" + std::string(Z3_get_numeral_string(expr.ctx(), expr));
      } else if (expr.is_app()) {
        SmallVector<unsigned> arguments;
        for (unsigned i = 0; i < expr.num_args(); ++i)
          arguments.push_back(visit(expr.arg(i)));
        z3::func_decl decl = expr.decl();
        entry = decl.name().str() + "/" + std::to_string(decl.decl_kind());
        for (unsigned i = 0, e = Z3_get_decl_num_parameters(expr.ctx(), decl);
             i < e; ++i)
          entry += Z3_get_decl_parameter_kind(expr.ctx(), decl, i) ==
                           Z3_PARAMETER_INT
                       ? "," + std::to_string(
                                   Z3_get_decl_int_parameter(expr.ctx(), decl, i))
                       : ",?";
        for (unsigned argument : arguments)
          entry += " " + std::to_string(argument);
      } else if (expr.is_var()) {
        entry = "v" + std::to_string(Z3_get_index_value(expr.ctx(), expr));
      } else if (expr.is_quantifier()) {
        unsigned body = visit(expr.body());
        entry = (expr.is_forall() ? "A" : "E") +
                std::to_string(Z3_get_quantifier_num_bound(expr.ctx(), expr));
        for (unsigned i = 0, e = Z3_get_quantifier_num_bound(expr.ctx(), expr);
             i < e; ++i)
          entry += " " + z3::sort(expr.ctx(), Z3_get_quantifier_bound_sort(
                                                  expr.ctx(), expr, i))
                             .to_string();
        entry += " " + std::to_string(body);
      } else {
        entry = "?" + expr.to_string();
      }
      key += entry + ":" + sortOf(expr) + ";";
      unsigned index = entries.size();
      entries[expr.id()] = index;
      return index;
    };
    for (unsigned i = 0; i < assumptions.size(); ++i)
      key += "assume " + std::to_string(visit(assumptions[i])) + "\n";
    key += "claim " + std::to_string(visit(claim));
    return key;
  }
  bool contains(const std::string &key) {
    std::lock_guard<std::mutex> lock(mutex);
    return proved.count(key);
  }
  void insert(std::string key) {
    std::lock_guard<std::mutex> lock(mutex);
    if (key.size() > limit)
      return;
    // Past the bound, afresh: the queries of one compile come again soon
    // and are proved again at a few milliseconds each.
    if (bytes + key.size() > limit)
      clearLocked();
    size_t size = key.size();
    if (proved.insert(std::move(key)).second)
      bytes += size;
  }
  size_t getBytes() {
    std::lock_guard<std::mutex> lock(mutex);
    return bytes;
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mutex);
    clearLocked();
  }
  size_t setLimit(size_t bytesLimit) {
    std::lock_guard<std::mutex> lock(mutex);
    size_t previous = limit;
    limit = bytesLimit;
    if (bytes > limit)
      clearLocked();
    return previous;
  }

private:
  void clearLocked() {
    proved.clear();
    bytes = 0;
  }
  std::mutex mutex;
  std::unordered_set<std::string> proved;
  /// The keys' bytes, and their bound.
  size_t bytes = 0;
  size_t limit = size_t(16) << 20;
};
ProvedClaims &getProvedClaims() {
  static ProvedClaims claims;
  return claims;
}
} // namespace

size_t mlir::cascade::getProofMemoryBytes() {
  return getProvedClaims().getBytes();
}

void mlir::cascade::clearProofMemory() { getProvedClaims().clear(); }

size_t mlir::cascade::setProofMemoryLimit(size_t bytes) {
  return getProvedClaims().setLimit(bytes);
}

ProofResult
mlir::cascade::proveValid(z3::context &context, const z3::expr &claim,
                          const z3::expr_vector &assumptions,
                          unsigned timeoutMs,
                          std::function<std::string(z3::model &)> describe) {
  try {
    std::string key = ProvedClaims::keyOf(claim, assumptions);
    if (getProvedClaims().contains(key))
      return {ProofStatus::Proved, ""};
    // The simple solver (the SMT core without the default solver's
    // tactic probing) first: the default one costs ~5 ms per query to set
    // up whatever the query, which made Z3 most of a GPU compile (110
    // queries for a masked variant). Over every variant's queries the two
    // decided the same; where the simple one gives up, the default one's
    // preprocessing (nonlinear tactics) gets its chance.
    z3::solver solver(context, z3::solver::simple());
    z3::check_result result =
        findCounterexample(solver, context, claim, assumptions, timeoutMs);
    if (result == z3::unknown) {
      solver = z3::solver(context);
      result =
          findCounterexample(solver, context, claim, assumptions, timeoutMs);
    }
    switch (result) {
    case z3::unsat:
      getProvedClaims().insert(std::move(key));
      return {ProofStatus::Proved, ""};
    case z3::sat: {
      z3::model m = solver.get_model();
      if (describe)
        return {ProofStatus::Refuted, describe(m)};
      std::string model;
      for (unsigned i = 0; i < m.size(); ++i) {
        z3::func_decl decl = m[i];
        if (decl.arity() != 0)
          continue; // Interpretations of functions are noise to a reader.
        model += (model.empty() ? "" : ", ") + decl.name().str() + " = " +
                 m.get_const_interp(decl).to_string();
      }
      return {ProofStatus::Refuted, model};
    }
    case z3::unknown:
      return {ProofStatus::Unknown, solver.reason_unknown()};
    }
  } catch (const z3::exception &error) {
    return {ProofStatus::Unknown, std::string("Z3: ") + error.msg()};
  }
  return {ProofStatus::Unknown, ""};
}
