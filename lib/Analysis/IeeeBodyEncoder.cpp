//===- IeeeBodyEncoder.cpp - Einsum bodies over the extended reals --------===//
//
// Each float op is encoded as IEEE 754 defines it on the special values and
// exactly on finite ones; see the header for the model.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/IeeeBodyEncoder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "llvm/ADT/DenseMap.h"

#include <cmath>

using namespace mlir;
using namespace mlir::cascade;

namespace {
enum Kind { kFin = 0, kPos = 1, kNeg = 2, kNan = 3 };
} // namespace

std::string mlir::cascade::describeClasses(FloatClasses classes) {
  std::string text;
  auto add = [&](FloatClasses bit, const char *name) {
    if (classes & bit)
      text += (text.empty() ? "" : ", ") + std::string(name);
  };
  add(kFinite, "finite");
  add(kNegInf, "-inf");
  add(kPosInf, "+inf");
  add(kNaN, "NaN");
  return "{" + text + "}";
}

ExtendedValue IeeeBodyEncoder::make(const z3::expr &kind,
                                    const z3::expr &real) {
  return {kind, z3::ite(kind == kFin, real, context.real_val(0))};
}

ExtendedValue IeeeBodyEncoder::finite(const z3::expr &real) {
  return {context.int_val(kFin), real.is_int() ? z3::to_real(real) : real};
}
ExtendedValue IeeeBodyEncoder::posInf() {
  return {context.int_val(kPos), context.real_val(0)};
}
ExtendedValue IeeeBodyEncoder::negInf() {
  return {context.int_val(kNeg), context.real_val(0)};
}
ExtendedValue IeeeBodyEncoder::nan() {
  return {context.int_val(kNan), context.real_val(0)};
}

ExtendedValue IeeeBodyEncoder::constant(double value) {
  if (std::isnan(value))
    return nan();
  if (std::isinf(value))
    return value > 0 ? posInf() : negInf();
  return finite(reals.getRealConstant(value));
}

ExtendedValue IeeeBodyEncoder::variable(StringRef name) {
  z3::expr kind = context.int_const((name + ".kind").str().c_str());
  z3::expr real = context.real_const((name + ".value").str().c_str());
  axioms.push_back(kind >= 0 && kind <= 3);
  return make(kind, real);
}

z3::expr IeeeBodyEncoder::inClasses(const ExtendedValue &v,
                                    FloatClasses classes) {
  z3::expr any = context.bool_val(false);
  if (classes & kFinite)
    any = any || v.kind == kFin;
  if (classes & kPosInf)
    any = any || v.kind == kPos;
  if (classes & kNegInf)
    any = any || v.kind == kNeg;
  if (classes & kNaN)
    any = any || v.kind == kNan;
  return any;
}

z3::expr IeeeBodyEncoder::same(const ExtendedValue &a, const ExtendedValue &b) {
  return a.kind == b.kind && a.real == b.real;
}

z3::expr IeeeBodyEncoder::lessEqual(const ExtendedValue &a,
                                    const ExtendedValue &b) {
  z3::expr ordered = a.kind != kNan && b.kind != kNan;
  return ordered && (a.kind == kNeg || b.kind == kPos ||
                     (a.kind == kFin && b.kind == kFin && a.real <= b.real));
}

z3::expr IeeeBodyEncoder::less(const ExtendedValue &a, const ExtendedValue &b) {
  z3::expr ordered = a.kind != kNan && b.kind != kNan;
  return ordered && ((a.kind == kNeg && b.kind != kNeg) ||
                     (a.kind == kFin && b.kind == kPos) ||
                     (a.kind == kFin && b.kind == kFin && a.real < b.real));
}

ExtendedValue IeeeBodyEncoder::add(const ExtendedValue &a,
                                   const ExtendedValue &b) {
  z3::expr isNan = a.kind == kNan || b.kind == kNan ||
                   (a.kind == kPos && b.kind == kNeg) ||
                   (a.kind == kNeg && b.kind == kPos);
  z3::expr kind = z3::ite(
      isNan, context.int_val(kNan),
      z3::ite(a.kind == kPos || b.kind == kPos, context.int_val(kPos),
              z3::ite(a.kind == kNeg || b.kind == kNeg,
                      context.int_val(kNeg), context.int_val(kFin))));
  return make(kind, a.real + b.real);
}

ExtendedValue IeeeBodyEncoder::negate(const ExtendedValue &a) {
  z3::expr kind =
      z3::ite(a.kind == kPos, context.int_val(kNeg),
              z3::ite(a.kind == kNeg, context.int_val(kPos), a.kind));
  return make(kind, -a.real);
}

ExtendedValue IeeeBodyEncoder::multiply(const ExtendedValue &a,
                                        const ExtendedValue &b) {
  z3::expr aInf = a.kind == kPos || a.kind == kNeg;
  z3::expr bInf = b.kind == kPos || b.kind == kNeg;
  z3::expr isNan = a.kind == kNan || b.kind == kNan ||
                   (aInf && isZero(b)) || (bInf && isZero(a));
  z3::expr aPositive = a.kind == kPos || (a.kind == kFin && a.real > 0);
  z3::expr bPositive = b.kind == kPos || (b.kind == kFin && b.real > 0);
  z3::expr positive = aPositive == bPositive;
  z3::expr kind = z3::ite(
      isNan, context.int_val(kNan),
      z3::ite(aInf || bInf,
              z3::ite(positive, context.int_val(kPos), context.int_val(kNeg)),
              context.int_val(kFin)));
  return make(kind, a.real * b.real);
}

ExtendedValue IeeeBodyEncoder::divide(const ExtendedValue &a,
                                      const ExtendedValue &b) {
  z3::expr aInf = a.kind == kPos || a.kind == kNeg;
  z3::expr bInf = b.kind == kPos || b.kind == kNeg;
  z3::expr isNan = a.kind == kNan || b.kind == kNan || (aInf && bInf) ||
                   (isZero(a) && isZero(b));
  // Zeros carry no sign in this model, so x / 0 is +inf or -inf: a fresh
  // choice per division keeps every proof valid for both signed zeros.
  z3::expr zeroIsPositive = context.bool_const(
      ("zero_sign_" + std::to_string(freshCount++)).c_str());
  z3::expr aPositive = a.kind == kPos || (a.kind == kFin && a.real > 0);
  z3::expr bPositive = b.kind == kPos || (b.kind == kFin && b.real > 0) ||
                       (isZero(b) && zeroIsPositive);
  z3::expr kind = z3::ite(
      isNan, context.int_val(kNan),
      z3::ite(bInf, context.int_val(kFin),
              z3::ite(aInf || isZero(b),
                      z3::ite(aPositive == bPositive, context.int_val(kPos),
                              context.int_val(kNeg)),
                      context.int_val(kFin))));
  z3::expr quotient = z3::ite(b.kind == kFin && b.real != 0, a.real / b.real,
                              context.real_val(0));
  return make(kind, quotient);
}

ExtendedValue IeeeBodyEncoder::select(const z3::expr &condition,
                                      const ExtendedValue &a,
                                      const ExtendedValue &b) {
  return {z3::ite(condition, a.kind, b.kind),
          z3::ite(condition, a.real, b.real)};
}

ExtendedValue IeeeBodyEncoder::maximum(const ExtendedValue &a,
                                       const ExtendedValue &b) {
  ExtendedValue larger = select(lessEqual(b, a), a, b);
  return select(a.kind == kNan || b.kind == kNan, nan(), larger);
}

ExtendedValue IeeeBodyEncoder::minimum(const ExtendedValue &a,
                                       const ExtendedValue &b) {
  ExtendedValue smaller = select(lessEqual(a, b), a, b);
  return select(a.kind == kNan || b.kind == kNan, nan(), smaller);
}

std::optional<ExtendedValue>
IeeeBodyEncoder::applyKnownFunction(StringRef name, const ExtendedValue &a) {
  auto f = [&]() {
    return finite(reals.getFunction(name, 1)(a.real));
  };
  auto byKind = [&](const ExtendedValue &onFinite, const ExtendedValue &onPos,
                    const ExtendedValue &onNeg) {
    ExtendedValue r = select(a.kind == kFin, onFinite,
                             select(a.kind == kPos, onPos, onNeg));
    return select(a.kind == kNan, nan(), r);
  };
  z3::expr zero = context.real_val(0), one = context.real_val(1);
  if (name == "math.exp" || name == "math.exp2")
    return byKind(f(), posInf(), finite(zero));
  if (name == "math.expm1")
    return byKind(f(), posInf(), finite(-one));
  if (name == "math.tanh" || name == "math.erf")
    return byKind(f(), finite(one), finite(-one));
  if (name == "math.sin" || name == "math.cos" || name == "math.tan")
    return byKind(f(), nan(), nan());
  if (name == "math.atan")
    return byKind(f(), f(), f());
  if (name == "math.log" || name == "math.log2" || name == "math.log10") {
    ExtendedValue onFinite =
        select(a.real > 0, f(), select(a.real == 0, negInf(), nan()));
    return byKind(onFinite, posInf(), nan());
  }
  if (name == "math.log1p") {
    ExtendedValue onFinite =
        select(a.real > -1, f(), select(a.real == -1, negInf(), nan()));
    return byKind(onFinite, posInf(), nan());
  }
  if (name == "math.sqrt")
    return byKind(select(a.real >= 0, f(), nan()), posInf(), nan());
  if (name == "math.rsqrt") {
    ExtendedValue onFinite =
        select(a.real > 0, f(), select(a.real == 0, posInf(), nan()));
    return byKind(onFinite, finite(zero), nan());
  }
  return std::nullopt;
}

ExtendedValue
IeeeBodyEncoder::applyUnknownFunction(StringRef name,
                                      ArrayRef<ExtendedValue> args) {
  // Nothing is known: the kind and the value are functions of the
  // arguments' kinds and values, consistent between applications.
  z3::sort_vector domain(context);
  z3::expr_vector actuals(context);
  for (const ExtendedValue &arg : args) {
    domain.push_back(context.int_sort());
    domain.push_back(context.real_sort());
    actuals.push_back(arg.kind);
    actuals.push_back(arg.real);
  }
  z3::func_decl kindOf = context.function(
      (name + ".kind").str().c_str(), domain, context.int_sort());
  z3::func_decl valueOf = context.function(
      (name + ".value").str().c_str(), domain, context.real_sort());
  z3::expr kind = kindOf(actuals);
  axioms.push_back(kind >= 0 && kind <= 3);
  return make(kind, valueOf(actuals));
}

z3::expr_vector IeeeBodyEncoder::getSideConditions() {
  z3::expr_vector conditions(context);
  for (const z3::expr &axiom : axioms)
    conditions.push_back(axiom);
  for (auto &[rank, extent] : reals.getExtents())
    conditions.push_back(extent >= (nonEmptyRanks.count(rank) ? 1 : 0));
  for (auto &[rank, coordinate] : reals.getCoordinates()) {
    conditions.push_back(coordinate >= 0);
    auto extent = reals.getExtents().find(rank);
    if (extent != reals.getExtents().end())
      conditions.push_back(coordinate < extent->second);
  }
  return conditions;
}

FailureOr<ExtendedValue>
IeeeBodyEncoder::encode(EinsumOp einsum, ArrayRef<ExtendedValue> operands,
                        std::string &why,
                        SmallVectorImpl<ExtendedValue> *divisors) {
  Block &block = einsum.getBodyBlock();
  if (operands.size() != block.getNumArguments()) {
    why = "expected one term per operand";
    return failure();
  }
  for (StringRef rank : einsum.getRanks().getAsValueRange<StringAttr>())
    nonEmptyRanks.insert(rank.str());
  // A float value is an ExtendedValue; an integer, index or i1 value is a
  // plain Z3 term (reals for numbers, Booleans for i1), exact as in the
  // real model.
  struct Term {
    std::optional<ExtendedValue> ext;
    std::optional<z3::expr> plain;
  };
  try {
    llvm::DenseMap<Value, unsigned> index;
    std::vector<Term> terms;
    auto bind = [&](Value value, Term term) {
      index[value] = terms.size();
      terms.push_back(std::move(term));
    };
    for (auto [arg, operand] : llvm::zip(block.getArguments(), operands)) {
      if (isa<FloatType>(arg.getType()))
        bind(arg, {operand, std::nullopt});
      else
        bind(arg, {std::nullopt, operand.real});
    }
    auto term = [&](Value value) -> Term & { return terms[index.lookup(value)]; };
    auto ext = [&](Value value) -> std::optional<ExtendedValue> {
      Term &t = term(value);
      if (t.ext)
        return t.ext;
      if (t.plain && !t.plain->is_bool())
        return finite(*t.plain);
      return std::nullopt;
    };
    auto plain = [&](Value value) -> std::optional<z3::expr> {
      Term &t = term(value);
      if (t.plain)
        return t.plain->is_int() ? z3::to_real(*t.plain) : *t.plain;
      return std::nullopt;
    };

    for (Operation &op : block) {
      if (auto yield = dyn_cast<YieldOp>(op)) {
        if (std::optional<ExtendedValue> v = ext(yield.getValues()[0]))
          return *v;
        why = "the body yields a value of no float model";
        return failure();
      }
      Term result;
      bool isFloat = op.getNumResults() == 1 &&
                     isa<FloatType>(op.getResult(0).getType());
      auto fa = [&]() { return *ext(op.getOperand(0)); };
      auto fb = [&]() { return *ext(op.getOperand(1)); };
      bool floatOperands = llvm::all_of(op.getOperands(), [&](Value v) {
        return ext(v).has_value();
      });
      if (auto constantOp = dyn_cast<arith::ConstantOp>(op)) {
        if (auto floatAttr = dyn_cast<FloatAttr>(constantOp.getValue()))
          result.ext = constant(floatAttr.getValueAsDouble());
        else if (auto intAttr = dyn_cast<IntegerAttr>(constantOp.getValue())) {
          if (intAttr.getType().isInteger(1))
            result.plain = context.bool_val(intAttr.getValue().getBoolValue());
          else
            result.plain = context.real_val(
                std::to_string(intAttr.getValue().getSExtValue()).c_str());
        }
      } else if (auto coordinate = dyn_cast<IndexOp>(op)) {
        z3::expr c = z3::to_real(reals.getCoordinate(coordinate.getRank()));
        if (isFloat)
          result.ext = finite(c);
        else
          result.plain = c;
      } else if (auto extent = dyn_cast<ExtentOp>(op)) {
        z3::expr e = z3::to_real(reals.getExtent(extent.getRank()));
        if (isFloat)
          result.ext = finite(e);
        else
          result.plain = e;
      } else if (isFloat && floatOperands && isa<arith::AddFOp>(op)) {
        result.ext = add(fa(), fb());
      } else if (isFloat && floatOperands && isa<arith::SubFOp>(op)) {
        result.ext = subtract(fa(), fb());
      } else if (isFloat && floatOperands && isa<arith::MulFOp>(op)) {
        result.ext = multiply(fa(), fb());
      } else if (isFloat && floatOperands && isa<arith::DivFOp>(op)) {
        if (divisors)
          divisors->push_back(fb());
        result.ext = divide(fa(), fb());
      } else if (isFloat && floatOperands && isa<arith::NegFOp>(op)) {
        result.ext = negate(fa());
      } else if (isFloat && floatOperands && isa<arith::MaximumFOp>(op)) {
        result.ext = maximum(fa(), fb());
      } else if (isFloat && floatOperands && isa<arith::MinimumFOp>(op)) {
        result.ext = minimum(fa(), fb());
      } else if (isFloat && floatOperands &&
                 isa<arith::MaxNumFOp, arith::MinNumFOp>(op)) {
        ExtendedValue both = isa<arith::MaxNumFOp>(op) ? maximum(fa(), fb())
                                                       : minimum(fa(), fb());
        result.ext = select(isNaN(fa()), fb(), select(isNaN(fb()), fa(), both));
      } else if (isFloat && floatOperands && isa<math::AbsFOp>(op)) {
        ExtendedValue a = fa();
        result.ext = make(z3::ite(a.kind == kNeg, context.int_val(kPos), a.kind),
                          z3::ite(a.real >= 0, a.real, -a.real));
      } else if (isFloat && floatOperands && isa<math::FmaOp>(op)) {
        result.ext = add(multiply(fa(), fb()), *ext(op.getOperand(2)));
      } else if (auto cmp = dyn_cast<arith::CmpFOp>(op); cmp && floatOperands) {
        ExtendedValue a = fa(), b = fb();
        z3::expr ordered = !isNaN(a) && !isNaN(b);
        z3::expr equal = ordered && same(a, b);
        using P = arith::CmpFPredicate;
        std::optional<z3::expr> r;
        switch (cmp.getPredicate()) {
        case P::AlwaysFalse: r = context.bool_val(false); break;
        case P::AlwaysTrue: r = context.bool_val(true); break;
        case P::OEQ: r = equal; break;
        case P::OGT: r = less(b, a); break;
        case P::OGE: r = lessEqual(b, a); break;
        case P::OLT: r = less(a, b); break;
        case P::OLE: r = lessEqual(a, b); break;
        case P::ONE: r = ordered && !equal; break;
        case P::ORD: r = ordered; break;
        case P::UEQ: r = !ordered || equal; break;
        case P::UGT: r = !ordered || less(b, a); break;
        case P::UGE: r = !ordered || lessEqual(b, a); break;
        case P::ULT: r = !ordered || less(a, b); break;
        case P::ULE: r = !ordered || lessEqual(a, b); break;
        case P::UNE: r = !ordered || !equal; break;
        case P::UNO: r = !ordered; break;
        }
        result.plain = r;
      } else if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
        std::optional<z3::expr> a = plain(op.getOperand(0)),
                                b = plain(op.getOperand(1));
        if (a && b)
          result.plain = compareIntegers(cmp.getPredicate(), *a, *b);
      } else if (isa<arith::SelectOp>(op)) {
        std::optional<z3::expr> condition = plain(op.getOperand(0));
        if (condition && isFloat) {
          std::optional<ExtendedValue> a = ext(op.getOperand(1)),
                                       b = ext(op.getOperand(2));
          if (a && b)
            result.ext = select(*condition, *a, *b);
        } else if (condition) {
          std::optional<z3::expr> a = plain(op.getOperand(1)),
                                  b = plain(op.getOperand(2));
          if (a && b)
            result.plain = z3::ite(*condition, *a, *b);
        }
      } else if (isa<arith::AndIOp, arith::OrIOp>(op) &&
                 op.getResult(0).getType().isInteger(1)) {
        std::optional<z3::expr> a = plain(op.getOperand(0)),
                                b = plain(op.getOperand(1));
        if (a && b)
          result.plain = isa<arith::AndIOp>(op) ? (*a && *b) : (*a || *b);
      } else if (isa<arith::AddIOp, arith::SubIOp, arith::MulIOp>(op)) {
        std::optional<z3::expr> a = plain(op.getOperand(0)),
                                b = plain(op.getOperand(1));
        if (a && b)
          result.plain = isa<arith::AddIOp>(op)   ? *a + *b
                         : isa<arith::SubIOp>(op) ? *a - *b
                                                  : *a * *b;
      } else if (isa<arith::FloorDivSIOp>(op)) {
        std::optional<z3::expr> a = plain(op.getOperand(0)),
                                b = plain(op.getOperand(1));
        if (a && b)
          result.plain = Z3BodyEncoder::floorDivide(*a, *b);
      } else if (isa<arith::ExtFOp, arith::TruncFOp>(op)) {
        result.ext = ext(op.getOperand(0)); // Exact: no rounding modelled.
      } else if (isa<arith::SIToFPOp, arith::UIToFPOp>(op)) {
        if (std::optional<z3::expr> a = plain(op.getOperand(0)))
          result.ext = finite(*a);
      } else if (isa<arith::IndexCastOp, arith::ExtSIOp, arith::ExtUIOp>(op)) {
        result.plain = plain(op.getOperand(0));
      } else if (isFloat && floatOperands &&
                 isa<math::MathDialect>(op.getDialect())) {
        StringRef name = op.getName().getStringRef();
        std::optional<ExtendedValue> known;
        if (op.getNumOperands() == 1)
          known = applyKnownFunction(name, fa());
        if (known) {
          result.ext = known;
        } else {
          SmallVector<ExtendedValue> args;
          for (Value operand : op.getOperands())
            args.push_back(*ext(operand));
          result.ext = applyUnknownFunction(name, args);
        }
      }
      if (!result.ext && !result.plain) {
        why = "'" + op.getName().getStringRef().str() +
              "' has no model in the extended-real encoding";
        return failure();
      }
      bind(op.getResult(0), std::move(result));
    }
    why = "the body has no cascade.yield";
    return failure();
  } catch (const z3::exception &error) {
    why = std::string("Z3: ") + error.msg();
    return failure();
  }
}
