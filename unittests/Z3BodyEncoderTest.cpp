//===- Z3BodyEncoderTest.cpp - Laws of Einsum bodies, proved or refuted ---===//
//
// Parses Einsums, encodes their bodies for Z3, and checks that true laws
// are proved and false ones refuted with a counterexample.
//
//===----------------------------------------------------------------------===//

#include "cascade/Analysis/Z3BodyEncoder.h"
#include "cascade/InitAllDialects.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"

#include "gtest/gtest.h"

using namespace mlir;
using namespace mlir::cascade;

namespace {

class Z3BodyEncoderTest : public ::testing::Test {
protected:
  Z3BodyEncoderTest() : encoder(z3) {
    DialectRegistry registry;
    registerAllDialects(registry);
    context.appendDialectRegistry(registry);
    context.loadAllAvailableDialects();
  }

  /// The Einsums of a one-function module, in order.
  SmallVector<EinsumOp> parse(StringRef body) {
    std::string source = "func.func @f(%x: tensor<?xf32>, %a: tensor<?xf32>, "
                         "%b: tensor<?xf32>) {\n" +
                         body.str() + "\n  return\n}\n";
    module = parseSourceString<ModuleOp>(source, &context);
    SmallVector<EinsumOp> einsums;
    if (module)
      module->walk([&](EinsumOp op) { einsums.push_back(op); });
    return einsums;
  }

  /// Encodes `einsum` with its operands bound to the named reals.
  z3::expr encode(EinsumOp einsum, std::initializer_list<const char *> names) {
    std::vector<z3::expr> operands;
    for (const char *name : names)
      operands.push_back(z3.real_const(name));
    std::string why;
    FailureOr<z3::expr> term = encoder.encode(einsum, operands, why);
    EXPECT_TRUE(succeeded(term)) << why;
    return succeeded(term) ? *term : z3.real_val(0);
  }

  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  z3::context z3;
  Z3BodyEncoder encoder;
};

TEST_F(Z3BodyEncoderTest, ProvesAlgebraicIdentities) {
  SmallVector<EinsumOp> e = parse(R"(
    %0 = cascade.einsum [p] = %x[p] - %a[p] : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
    %1 = cascade.einsum [p] = -(%a[p] - %x[p]) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
    %2 = cascade.einsum [p] = max(%x[p], %a[p]) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
    %3 = cascade.einsum [p] = -min(-%x[p], -%a[p]) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
    %4 = cascade.einsum [p] = (%x[p] + %a[p]) * 0.5 : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
    %5 = cascade.einsum [p] = %x[p] / 2.0 + %a[p] / 2.0 : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>)");
  ASSERT_EQ(e.size(), 6u);
  z3::expr_vector none(z3);
  EXPECT_EQ(proveEqual(z3, encode(e[0], {"x", "a"}), encode(e[1], {"a", "x"}),
                       none).status,
            ProofStatus::Proved);
  EXPECT_EQ(proveEqual(z3, encode(e[2], {"x", "a"}), encode(e[3], {"x", "a"}),
                       none).status,
            ProofStatus::Proved);
  EXPECT_EQ(proveEqual(z3, encode(e[4], {"x", "a"}), encode(e[5], {"x", "a"}),
                       none).status,
            ProofStatus::Proved);
}

TEST_F(Z3BodyEncoderTest, RefutesRescalingASquaredNormaliser) {
  // Online rescaling needs f(x - a) = f(x - b) * f(b - a). For f(t) = t^2
  // that is false, and Z3 says where.
  SmallVector<EinsumOp> e = parse(R"(
    %0 = cascade.einsum [p] = (%x[p] - %a[p]) * (%x[p] - %a[p]) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
    %1 = cascade.einsum [p] = (%x[p] - %b[p]) * (%x[p] - %b[p]) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
    %2 = cascade.einsum [p] = (%b[p] - %a[p]) * (%b[p] - %a[p]) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>)");
  ASSERT_EQ(e.size(), 3u);
  z3::expr lhs = encode(e[0], {"x", "a"});
  z3::expr rhs = encode(e[1], {"x", "b"}) * encode(e[2], {"b", "a"});
  ProofResult result = proveEqual(z3, lhs, rhs, z3::expr_vector(z3));
  EXPECT_EQ(result.status, ProofStatus::Refuted);
  EXPECT_NE(result.counterexample.find("x = "), std::string::npos)
      << result.counterexample;
}

TEST_F(Z3BodyEncoderTest, ExpRescalesOnlyWithItsAxiom) {
  // exp(x - a) = exp(x - b) * exp(b - a): false for an arbitrary function,
  // proved once exp(u + v) = exp(u) * exp(v) is assumed for u = x - b,
  // v = b - a.
  SmallVector<EinsumOp> e = parse(R"(
    %0 = cascade.einsum [p] = exp(%x[p] - %a[p]) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
    %1 = cascade.einsum [p] = exp(%x[p] - %b[p]) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
    %2 = cascade.einsum [p] = exp(%b[p] - %a[p]) : (tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>)");
  ASSERT_EQ(e.size(), 3u);
  z3::expr lhs = encode(e[0], {"x", "a"});
  z3::expr rhs = encode(e[1], {"x", "b"}) * encode(e[2], {"b", "a"});
  EXPECT_EQ(proveEqual(z3, lhs, rhs, z3::expr_vector(z3)).status,
            ProofStatus::Refuted);

  // The law, instantiated at the terms the rewrite relates (ground
  // instances keep Z3 decidable where quantified axioms would not).
  z3::func_decl exp = encoder.getFunction("math.exp", 1);
  z3::expr x = z3.real_const("x"), a = z3.real_const("a"),
           b = z3.real_const("b");
  z3::expr_vector axioms(z3);
  axioms.push_back(exp((x - b) + (b - a)) == exp(x - b) * exp(b - a));
  EXPECT_EQ(proveEqual(z3, lhs, rhs, axioms).status, ProofStatus::Proved);
}

TEST_F(Z3BodyEncoderTest, CoordinatesExtentsAndSelects) {
  // A causal mask as a select: with 0 <= m < M and p < P, "m <= p + M - P"
  // written two ways.
  SmallVector<EinsumOp> e = parse(R"(
    %0 = cascade.einsum [p] = map(%x[p]) {
    ^bb0(%v: f32):
      %m = cascade.index p : f32
      %n = cascade.extent p : f32
      %lt = arith.cmpf olt, %m, %n : f32
      %zero = arith.constant 0.0 : f32
      %r = arith.select %lt, %v, %zero : f32
      cascade.yield %r : f32
    } : (tensor<?xf32>) -> tensor<?xf32>)");
  ASSERT_EQ(e.size(), 1u);
  z3::expr masked = encode(e[0], {"x"});
  // Within the rank every coordinate is below the extent: the select always
  // picks x.
  EXPECT_EQ(proveEqual(z3, masked, z3.real_const("x"),
                       encoder.getSideConditions())
                .status,
            ProofStatus::Proved);
  // Without the side conditions it does not hold.
  EXPECT_EQ(proveEqual(z3, masked, z3.real_const("x"), z3::expr_vector(z3))
                .status,
            ProofStatus::Refuted);
}

TEST_F(Z3BodyEncoderTest, ExplainsWhatItCannotEncode) {
  SmallVector<EinsumOp> e = parse(R"(
    %0 = cascade.einsum [p] = %x[p] - inf : (tensor<?xf32>) -> tensor<?xf32>
    %1 = cascade.einsum [p] = map(%x[p]) {
    ^bb0(%v: f32):
      %i = cascade.index p : i64
      %two = arith.constant 2 : i64
      %r = arith.remsi %i, %two : i64
      %f = arith.sitofp %r : i64 to f32
      cascade.yield %f : f32
    } : (tensor<?xf32>) -> tensor<?xf32>)");
  ASSERT_EQ(e.size(), 2u);
  std::string why;
  std::vector<z3::expr> operands = {z3.real_const("x")};
  EXPECT_TRUE(failed(encoder.encode(e[0], operands, why)));
  EXPECT_NE(why.find("is not a real number"), std::string::npos) << why;
  EXPECT_TRUE(failed(encoder.encode(e[1], operands, why)));
  EXPECT_NE(why.find("'arith.remsi' has no model"), std::string::npos) << why;
}

TEST_F(Z3BodyEncoderTest, ConstantsAreExactRationals) {
  // 0.1f is not 1/10: the encoding keeps the float's exact value.
  z3::expr tenth = encoder.getRealConstant(static_cast<float>(0.1));
  EXPECT_EQ(proveEqual(z3, tenth, z3.real_val(1, 10), z3::expr_vector(z3))
                .status,
            ProofStatus::Refuted);
  EXPECT_EQ(proveEqual(z3, encoder.getRealConstant(-0.75),
                       z3.real_val(-3, 4), z3::expr_vector(z3))
                .status,
            ProofStatus::Proved);
}

} // namespace

// proveValid remembers proofs per process: a repeated query is proved
// again from memory, but a query of the same shape over another sort is
// asked afresh (x * x != 2 holds over the integers, not over the reals),
// and a refuted claim stays refuted after its like was proved.
TEST(ProvedClaimsTest, RemembersProofsPerQueryAndSort) {
  for (int round = 0; round < 2; ++round) {
    z3::context z3;
    z3::expr n = z3.int_const("x");
    EXPECT_EQ(proveValid(z3, n * n != z3.int_val(2), z3::expr_vector(z3))
                  .status,
              ProofStatus::Proved);
    z3::expr r = z3.real_const("x");
    ProofResult real =
        proveValid(z3, r * r != z3.real_val(2), z3::expr_vector(z3));
    EXPECT_EQ(real.status, ProofStatus::Refuted);
    EXPECT_NE(real.counterexample.find("x"), std::string::npos);
    // The same text under an assumption that makes it valid.
    z3::expr_vector positive(z3);
    positive.push_back(r > z3.real_val(2));
    EXPECT_EQ(proveValid(z3, r * r != z3.real_val(2), positive).status,
              ProofStatus::Proved);
  }
}

// The proof memory is bounded: past its limit it starts afresh, and a
// claim proved again after that is still proved. It can be dropped.
TEST(ProvedClaimsTest, MemoryIsBoundedAndCanBeDropped) {
  clearProofMemory();
  size_t previous = setProofMemoryLimit(2048);
  z3::context z3;
  z3::expr x = z3.int_const("x");
  size_t most = 0;
  for (int k = 0; k < 60; ++k) {
    // x * x != 4 k + 2: no square is 2 mod 4.
    EXPECT_EQ(proveValid(z3, x * x != z3.int_val(4 * k + 2),
                         z3::expr_vector(z3))
                  .status,
              ProofStatus::Proved);
    most = std::max(most, getProofMemoryBytes());
  }
  EXPECT_GT(most, 0u);
  EXPECT_LE(most, 2048u);
  EXPECT_EQ(proveValid(z3, x * x != z3.int_val(2), z3::expr_vector(z3)).status,
            ProofStatus::Proved);
  clearProofMemory();
  EXPECT_EQ(getProofMemoryBytes(), 0u);
  EXPECT_EQ(setProofMemoryLimit(previous), 2048u);
}
