// Malformed equations are rejected by the parser, at the offending token.
// RUN: attn-opt %s -split-input-file -verify-diagnostics

func.func @upper_case_rank(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{'P' is not a valid rank name}}
  %X = cascade.einsum [P] = %A[p] : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @reserved_rank(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{'exp' is not a valid rank name}}
  %X = cascade.einsum [exp] = %A[p] : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @duplicate_output_rank(%A: tensor<?x?xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{rank 'p' appears twice in the output}}
  %X = cascade.einsum [p, p] = %A[p, p] : (tensor<?x?xf32>) -> tensor<?x?xf32>
  return %X : tensor<?x?xf32>
}

// -----

func.func @unknown_function(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{unknown function 'softplus' in an Einsum body; use the map(...) form with a region for other operations}}
  %X = cascade.einsum [p] = softplus(%A[p]) : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @product_of_ranks(%A: tensor<?xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{cannot multiply two ranks: index expressions are affine in the ranks}}
  %X = cascade.einsum [m, p] = %A[m * p] : (tensor<?xf32>) -> tensor<?x?xf32>
  return %X : tensor<?x?xf32>
}

// -----

func.func @division_by_rank(%A: tensor<?xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{the divisor must be a constant or an extent, not a rank}}
  %X = cascade.einsum [m, p] = %A[m floordiv p] : (tensor<?xf32>) -> tensor<?x?xf32>
  return %X : tensor<?x?xf32>
}

// -----

func.func @unknown_reduce_operator(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{unknown reduce operator 'avg' (expected add, mul, max or min)}}
  %X = cascade.einsum [p] = %A[m, p] reduce(m: avg) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @bad_relation(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{expected '<=', '<', '>=', '>', '==' or '<>' (not equal)}}
  %X = cascade.einsum [p] = %A[m, p] reduce(m: add) where (m = p) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @bad_extent_name(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{'Mx' is not the extent of a valid rank name}}
  %X = cascade.einsum [p] = %A[p] * Mx : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @operand_type_count(%A: tensor<?xf32>, %B: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{expected 2 operand types, one per distinct operand access}}
  %X = cascade.einsum [p] = %A[p] * %B[p] : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @infix_mixed_types(%A: tensor<?xf16>) -> tensor<?xf32> {
  // expected-error @+1 {{an infix body needs operands of the result's element type 'f32'; use the map(...) form with a region}}
  %X = cascade.einsum [p] = %A[p] * 2.0 : (tensor<?xf16>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @undefined_value() -> tensor<?xf32> {
  // expected-error @+1 {{use of undeclared SSA value name}}
  %X = cascade.einsum [p] = %nope[p] : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @zero_divisor(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{the divisor must be positive}}
  %X = cascade.einsum [p] = %A[p floordiv 0] : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

// An empty region (found by fuzz/ParseFuzzer.cpp: the parser read the first
// block of a region that had none).
func.func @empty_region(%X: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{the body of the map(...) form must be one block ending in cascade.yield}}
  %R = cascade.einsum [p] = map(%X[p]) {
  } : (tensor<?xf32>) -> tensor<?xf32>
  return %R : tensor<?xf32>
}

// -----

// Each '<>' doubles the conjunctions it appears in: five of them make 32.
func.func @too_many_conjunctions(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{the predicate has more than 16 conjunctions once '<>' is expanded; split the Einsum}}
  %X = cascade.einsum [p] = %A[p, m] reduce(m: add) where (m <> p, m <> p + 1, m <> p + 2, m <> p + 3, m <> p + 4) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @or_without_conjunction(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{expected '('}}
  %X = cascade.einsum [p] = %A[p, m] reduce(m: add) where (m <= p) or : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

// An empty group would be a conjunction that always holds (found while
// adding unions: it used to build an IntegerSet without constraints).
func.func @empty_where_group(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{a 'where' group needs at least one constraint (omit 'where' for no mask)}}
  %X = cascade.einsum [p] = %A[p, m] reduce(m: add) where () : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @empty_or_group(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{a 'where' group needs at least one constraint (omit 'where' for no mask)}}
  %X = cascade.einsum [p] = %A[p, m] reduce(m: add) where (m <= p) or () : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

// A data comparison reads integer tensors (document ids), not floats.
func.func @data_compare_of_floats(%A: tensor<?x?xf32>, %D: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{a data comparison reads integer tensors (e.g. tensor<?x?xi32> document ids), got 'tensor<?xf32>'}}
  %X = cascade.einsum [p] = %A[p, m] reduce(m: add) where (m <= p) and %D[m] == %D[p] : (tensor<?x?xf32>, tensor<?xf32>, tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @data_compare_operator(%A: tensor<?x?xf32>, %D: tensor<?xi32>) -> tensor<?xf32> {
  // expected-error @+1 {{expected '==', '<=', '<', '>=' or '>' between two integer reads}}
  %X = cascade.einsum [p] = %A[p, m] reduce(m: add) where %D[m] + %D[p] : (tensor<?x?xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @data_compare_types(%A: tensor<?x?xf32>, %D: tensor<?xi32>) -> tensor<?xf32> {
  // expected-error @+1 {{expected 3 operand types, one per distinct operand access and one per read of a data comparison}}
  %X = cascade.einsum [p] = %A[p, m] reduce(m: add) where %D[m] == %D[p] : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}
