// Every structural rule of a cascade has a located diagnostic.
// RUN: attn-opt %s -split-input-file -verify-diagnostics

func.func @rank_with_two_sizes(%A: tensor<4x?xf32>, %B: tensor<5x?xf32>) -> tensor<?xf32> {
  %X = cascade.einsum [p] = %A[m, p] reduce(m: add) : (tensor<4x?xf32>) -> tensor<?xf32>
  // expected-error @+1 {{rank 'm' has extent 5 at argument #1 dimension 0 but extent 4 at argument #0 dimension 0}}
  %Y = cascade.einsum [p] = %B[m, p] reduce(m: add) : (tensor<5x?xf32>) -> tensor<?xf32>
  return %Y : tensor<?xf32>
}

// -----

func.func @operand_rank_mismatch(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{operand #0 is indexed by 1 expressions but has tensor rank 2}}
  %X = cascade.einsum [p] = %A[p] : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @result_rank_mismatch(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{result has tensor rank 1 but the output names 2 ranks}}
  %X = cascade.einsum [m, p] = %A[m, p] : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @reduced_rank_in_output(%A: tensor<?x?xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{rank 'm' is reduced but also appears in the output}}
  %X = cascade.einsum [m, p] = %A[m, p] reduce(m: add) : (tensor<?x?xf32>) -> tensor<?x?xf32>
  return %X : tensor<?x?xf32>
}

// -----

func.func @reduced_twice(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{rank 'm' is reduced twice}}
  %X = cascade.einsum [p] = %A[m, p] reduce(m: add, m: max) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @rank_neither_output_nor_reduced(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{rank 'm' is neither an output rank, nor reduced, nor fixed by an enclosing cascade.iterate}}
  %X = cascade.einsum [p] = %A[m, p] : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @predicate_over_unknown_rank(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{rank 'q' is neither an output rank, nor reduced, nor fixed by an enclosing cascade.iterate}}
  %X = cascade.einsum [p] = %A[p] where (q <= p) : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @predicate_dims_mismatch(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{predicate has 3 dims and 0 symbols; expected one per rank (1) and per extent (0)}}
  %X = "cascade.einsum"(%A) <{operandSegmentSizes = array<i32: 1, 0>, indexing_maps = [affine_map<(d0) -> (d0)>], output = ["p"], ranks = ["p"], reductions = [], symbols = [],
                              predicate = [affine_set<(d0, d1, d2) : (d0 - d1 >= 0)>]}> ({
  ^bb0(%a: f32):
    cascade.yield %a : f32
  }) : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @unknown_extent(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{the extent of rank 'q' is unknown}}
  %X = cascade.einsum [p] = %A[p] * Q : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @output_rank_never_bound(%A: tensor<?xf32>) -> tensor<?x?xf32> {
  // expected-error @+1 {{the extent of rank 'z' is unknown}}
  %X = cascade.einsum [p, z] = %A[p] : (tensor<?xf32>) -> tensor<?x?xf32>
  return %X : tensor<?x?xf32>
}

// -----

func.func @body_argument_type(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{body argument #0 has type 'f16' but operand #0 has element type 'f32'}}
  %X = cascade.einsum [p] = map(%A[p]) {
  ^bb0(%a: f16):
    %b = arith.extf %a : f16 to f32
    cascade.yield %b : f32
  } : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @body_yield_type(%A: tensor<?xf32>) -> tensor<?xf32> {
  %X = cascade.einsum [p] = map(%A[p]) {
  ^bb0(%a: f32):
    %b = arith.extf %a : f32 to f64
    // expected-error @+1 {{must yield one value of the result's element type 'f32'}}
    cascade.yield %b : f64
  } : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @body_foreign_op(%A: tensor<?xf32>) -> tensor<?xf32> {
  %X = cascade.einsum [p] = map(%A[p]) {
  ^bb0(%a: f32):
    // expected-error @+1 {{is not allowed in an Einsum body: bodies hold scalar arith and math ops}}
    %b = ub.poison : f32
    cascade.yield %b : f32
  } : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @body_tensor_value(%A: tensor<?xf32>) -> tensor<?xf32> {
  %X = cascade.einsum [p] = map(%A[p]) {
  ^bb0(%a: f32):
    // expected-error @+1 {{in an Einsum body must work on scalars, not 'tensor<2xf32>'}}
    %t = arith.constant dense<1.0> : tensor<2xf32>
    cascade.yield %a : f32
  } : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @index_of_foreign_rank(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{rank 'z' is neither an output rank, nor reduced, nor fixed by an enclosing cascade.iterate}}
  %X = cascade.einsum [p] = map(%A[p]) {
  ^bb0(%a: f32):
    %z = cascade.index z : f32
    cascade.yield %z : f32
  } : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @index_outside_ranks(%A: tensor<?xf32>) -> tensor<?xf32> {
  %X = "cascade.einsum"(%A) <{operandSegmentSizes = array<i32: 1, 0>, indexing_maps = [affine_map<(d0) -> (d0)>], output = ["p"], ranks = ["p"], reductions = [], symbols = []}> ({
  ^bb0(%a: f32):
    // expected-error @+1 {{reads rank 'z', which is not a rank of the enclosing Einsum}}
    %z = cascade.index z : f32
    cascade.yield %z : f32
  }) : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @fill_type(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{'else' value must be a float of the result's element type 'f32'}}
  %X = "cascade.einsum"(%A) <{operandSegmentSizes = array<i32: 1, 0>, indexing_maps = [affine_map<(d0) -> (d0)>], output = ["p"], ranks = ["p"], reductions = [], symbols = [],
                              fill = 1.0 : f64}> ({
  ^bb0(%a: f32):
    cascade.yield %a : f32
  }) : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @integer_result(%A: tensor<?xi32>) -> tensor<?xi32> {
  // expected-error @+1 {{result element type must be a float, got 'i32'}}
  %X = cascade.einsum [p] = map(%A[p]) {
  ^bb0(%a: i32):
    cascade.yield %a : i32
  } : (tensor<?xi32>) -> tensor<?xi32>
  return %X : tensor<?xi32>
}

// -----

func.func @maps_count(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{has 1 operands but 0 indexing maps}}
  %X = "cascade.einsum"(%A) <{operandSegmentSizes = array<i32: 1, 0>, indexing_maps = [], output = ["p"], ranks = ["p"], reductions = [], symbols = []}> ({
  ^bb0(%a: f32):
    cascade.yield %a : f32
  }) : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @static_size_against_tile(%A: tensor<?x?xf32>) -> tensor<?x?xf32> {
  cascade.partition m = m1 * 64 + m0
  %init = cascade.einsum [m0, p] = 0.0 : () -> tensor<?x?xf32>
  %r = cascade.iterate m1 init(%acc = %init) : tensor<?x?xf32> {
    // expected-error @+1 {{result dimension 0 has size 32 but rank 'm0' has extent 64}}
    %t = cascade.einsum [m0, p] = %A[m1 * 64 + m0, p] : (tensor<?x?xf32>) -> tensor<32x?xf32>
    cascade.yield %acc : tensor<?x?xf32>
  }
  return %r : tensor<?x?xf32>
}

// -----

// expected-error @+1 {{argument #0 has a 'cascade.ranks' attribute whose length does not match its tensor rank}}
func.func @argument_ranks_attribute(%A: tensor<?x?xf32> {cascade.ranks = ["p"]}) -> tensor<?x?xf32> {
  %X = cascade.einsum [p, m] = %A[p, m] : (tensor<?x?xf32>) -> tensor<?x?xf32>
  return %X : tensor<?x?xf32>
}

// -----

// expected-error @+1 {{'cascade.einsum' op must be inside a function: rank names are scoped to one}}
%X = cascade.einsum [p] = 1.0 : () -> tensor<?xf32>

// -----

func.func @inner_rank_without_outer(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  cascade.partition m = m1 * 64 + m0
  %B = cascade.einsum [m, p] = %A[m, p] : (tensor<?x?xf32>) -> tensor<?x?xf32>
  // expected-error @+1 {{rank 'm0' is the inner rank of partition 'm = m1 * 64 + m0' and needs its outer rank 'm1'}}
  %X = cascade.einsum [p] = %B[m0, p] reduce(m0: max) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @partition_of_unbound_rank(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{partitions rank 'z', which no function argument or partition binds}}
  cascade.partition z = z1 * 8 + z0
  %X = cascade.einsum [p] = %A[p] : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @partition_reuses_a_rank(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  cascade.partition m = p * 8 + m0
  // expected-error @+1 {{rank 'p' is declared by a cascade.partition and cannot also index argument #0 dimension 1 directly}}
  %X = cascade.einsum [p] = %A[m, p] reduce(m: add) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @partition_names(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{needs three distinct rank names}}
  cascade.partition p = p1 * 8 + p1
  %X = cascade.einsum [p] = %A[p] : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @partition_tile(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{attribute 'tile' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  cascade.partition p = p1 * 0 + p0
  %X = cascade.einsum [p] = %A[p] : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @partition_nested(%A: tensor<?xf32>) -> tensor<?xf32> {
  %init = cascade.einsum [p] = 0.0 : () -> tensor<?xf32>
  %r = cascade.iterate p init(%acc = %init) : tensor<?xf32> {
    // expected-error @+1 {{must be at the top level of a function}}
    cascade.partition q = q1 * 8 + q0
    cascade.yield %acc : tensor<?xf32>
  }
  %X = cascade.einsum [p] = %A[p] : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @yield_without_initial_value(%A: tensor<?xf32>) -> tensor<?xf32> {
  %init = cascade.einsum [p] = 0.0 : () -> tensor<?xf32>
  %r = cascade.iterate p init(%acc = %init) : tensor<?xf32> {
    // expected-error @+1 {{yields 2 values but the iterate carries 1 and stacks 0; every carried value needs an initial value in init(...) and every stacked one a type after 'stack'}}
    cascade.yield %acc, %acc : tensor<?xf32>, tensor<?xf32>
  }
  return %A : tensor<?xf32>
}

// -----

func.func @carried_without_initial_value(%A: tensor<?xf32>) -> tensor<?xf32> {
  %init = cascade.einsum [p] = 0.0 : () -> tensor<?xf32>
  // expected-error @+1 {{carries 2 values but has 1 initial values; every carried value needs one in init(...)}}
  %r = "cascade.iterate"(%init) <{rank = "p"}> ({
  ^bb0(%acc: tensor<?xf32>, %extra: tensor<?xf32>):
    cascade.yield %acc : tensor<?xf32>
  }) : (tensor<?xf32>) -> tensor<?xf32>
  return %A : tensor<?xf32>
}

// -----

func.func @carried_type_changes(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  %init = cascade.einsum [p] = 0.0 : () -> tensor<?xf32>
  %r = cascade.iterate m init(%acc = %init) : tensor<?xf32> {
    %b = cascade.einsum [p] = %acc[p] : (tensor<?xf32>) -> tensor<4xf32>
    // expected-error @+1 {{yields 'tensor<4xf32>' for carried value #0, which has type 'tensor<?xf32>'}}
    cascade.yield %b : tensor<4xf32>
  }
  %X = cascade.einsum [p] = %A[m, p] reduce(m: add) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @iterate_unknown_rank(%A: tensor<?xf32>) -> tensor<?xf32> {
  %init = cascade.einsum [p] = 0.0 : () -> tensor<?xf32>
  // expected-error @+1 {{iterates rank 'z', whose extent is unknown}}
  %r = cascade.iterate z init(%acc = %init) : tensor<?xf32> {
    cascade.yield %acc : tensor<?xf32>
  }
  %X = cascade.einsum [p] = %A[p] : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @iterate_twice(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  %init = cascade.einsum [p] = 0.0 : () -> tensor<?xf32>
  %r = cascade.iterate m init(%acc = %init) : tensor<?xf32> {
    // expected-error @+1 {{iterates rank 'm', which an enclosing cascade.iterate already fixes}}
    %s = cascade.iterate m init(%acc2 = %acc) : tensor<?xf32> {
      cascade.yield %acc2 : tensor<?xf32>
    }
    cascade.yield %s : tensor<?xf32>
  }
  %X = cascade.einsum [p] = %A[m, p] reduce(m: add) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @iterated_rank_in_output(%A: tensor<?x?xf32>) -> tensor<?xf32> {
  %init = cascade.einsum [p] = 0.0 : () -> tensor<?xf32>
  %r = cascade.iterate m init(%acc = %init) : tensor<?xf32> {
    // expected-error @+1 {{output rank 'm' is fixed by an enclosing cascade.iterate}}
    %t = cascade.einsum [m, p] = %A[m, p] : (tensor<?x?xf32>) -> tensor<?x?xf32>
    cascade.yield %acc : tensor<?xf32>
  }
  return %r : tensor<?xf32>
}

// -----

func.func @bad_name(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{name 'a b' must be an identifier (letters, digits, '_')}}
  %X = "cascade.einsum"(%A) <{operandSegmentSizes = array<i32: 1, 0>, indexing_maps = [affine_map<(d0) -> (d0)>], output = ["p"], ranks = ["p"], reductions = [], symbols = [], name = "a b"}> ({
  ^bb0(%a: f32):
    cascade.yield %a : f32
  }) : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @tiles_zero_query_tile(%X: tensor<?x?xf32>) -> tensor<?xf32> {
  cascade.partition m = m1 * 4 + m0
  %R0 = cascade.einsum R0[p] = 0.0 : () -> tensor<?xf32>
  // expected-error @+1 {{#cascade.tiles: query_tile must be in [1, 4096], not 0}}
  %R = cascade.iterate m1 init(%r = %R0) : tensor<?xf32> attributes {tiles = #cascade.tiles<query = "p", query_tile = 0, dims = ["p#tile"], symbols = ["m"], ranges = [#cascade.key_range<lower = (d0)[s0] -> (0), upper = (d0)[s0] -> (s0), full_lower = (d0)[s0] -> (0), full_upper = (d0)[s0] -> (0)>]>} {
    %N = cascade.einsum N[p] = %r[p] + %X[m1 * 4 + m0, p] reduce(m0: add) : (tensor<?xf32>, tensor<?x?xf32>) -> tensor<?xf32>
    cascade.yield %N : tensor<?xf32>
  }
  return %R : tensor<?xf32>
}

// -----

func.func @tiles_map_arity(%X: tensor<?x?xf32>) -> tensor<?xf32> {
  cascade.partition m = m1 * 4 + m0
  %R0 = cascade.einsum R0[p] = 0.0 : () -> tensor<?xf32>
  // expected-error @+1 {{#cascade.tiles: every map of range #0 must take 1 dims and 1 symbols and have at least one result}}
  %R = cascade.iterate m1 init(%r = %R0) : tensor<?xf32> attributes {tiles = #cascade.tiles<query = "p", query_tile = 8, dims = ["p#tile"], symbols = ["m"], ranges = [#cascade.key_range<lower = (d0, d1)[s0] -> (0), upper = (d0)[s0] -> (s0), full_lower = (d0)[s0] -> (0), full_upper = (d0)[s0] -> (0)>]>} {
    %N = cascade.einsum N[p] = %r[p] + %X[m1 * 4 + m0, p] reduce(m0: add) : (tensor<?xf32>, tensor<?x?xf32>) -> tensor<?xf32>
    cascade.yield %N : tensor<?xf32>
  }
  return %R : tensor<?xf32>
}

// -----

func.func @tiles_first_dim(%X: tensor<?x?xf32>) -> tensor<?xf32> {
  cascade.partition m = m1 * 4 + m0
  %R0 = cascade.einsum R0[p] = 0.0 : () -> tensor<?xf32>
  // expected-error @+1 {{#cascade.tiles: the query tile index 'p' must be "p#tile" or the outer rank of a partition of 'p' that a cascade.grid fixes}}
  %R = cascade.iterate m1 init(%r = %R0) : tensor<?xf32> attributes {tiles = #cascade.tiles<query = "p", query_tile = 8, dims = ["p"], symbols = ["m"], ranges = [#cascade.key_range<lower = (d0)[s0] -> (0), upper = (d0)[s0] -> (s0), full_lower = (d0)[s0] -> (0), full_upper = (d0)[s0] -> (0)>]>} {
    %N = cascade.einsum N[p] = %r[p] + %X[m1 * 4 + m0, p] reduce(m0: add) : (tensor<?xf32>, tensor<?x?xf32>) -> tensor<?xf32>
    cascade.yield %N : tensor<?xf32>
  }
  return %R : tensor<?xf32>
}

// -----

func.func @tiles_carried_without_query(%X: tensor<?x?xf32>) -> tensor<f32> {
  cascade.partition m = m1 * 4 + m0
  %R0 = cascade.einsum R0[] = 0.0 : () -> tensor<f32>
  // expected-error @+1 {{carried value #0 has no rank 'p': a tile schedule skips key tiles per query tile, so every carried tensor must hold one value per query row}}
  %R = cascade.iterate m1 init(%r = %R0) : tensor<f32> attributes {tiles = #cascade.tiles<query = "p", query_tile = 8, dims = ["p#tile"], symbols = ["m"], ranges = [#cascade.key_range<lower = (d0)[s0] -> (0), upper = (d0)[s0] -> (s0), full_lower = (d0)[s0] -> (0), full_upper = (d0)[s0] -> (0)>]>} {
    %N = cascade.einsum N[] = %r[] + %X[m1 * 4 + m0, p] reduce(m0: add, p: add) : (tensor<f32>, tensor<?x?xf32>) -> tensor<f32>
    cascade.yield %N : tensor<f32>
  }
  return %R : tensor<f32>
}

// -----

func.func @tiles_bound_by_key(%X: tensor<?x?xf32>) -> tensor<?xf32> {
  cascade.partition m = m1 * 4 + m0
  %R0 = cascade.einsum R0[p] = 0.0 : () -> tensor<?xf32>
  // expected-error @+1 {{#cascade.tiles bounds the key tiles by 'm1', the rank this iterate walks}}
  %R = cascade.iterate m1 init(%r = %R0) : tensor<?xf32> attributes {tiles = #cascade.tiles<query = "p", query_tile = 8, dims = ["p#tile", "m1"], symbols = ["m"], ranges = [#cascade.key_range<lower = (d0, d1)[s0] -> (0), upper = (d0, d1)[s0] -> (s0), full_lower = (d0, d1)[s0] -> (0), full_upper = (d0, d1)[s0] -> (0)>]>} {
    %N = cascade.einsum N[p] = %r[p] + %X[m1 * 4 + m0, p] reduce(m0: add) : (tensor<?xf32>, tensor<?x?xf32>) -> tensor<?xf32>
    cascade.yield %N : tensor<?xf32>
  }
  return %R : tensor<?xf32>
}

// -----

func.func @predicate_without_conjunction(%A: tensor<?xf32>) -> tensor<?xf32> {
  // expected-error @+1 {{predicate has no conjunction (omit it instead)}}
  %X = "cascade.einsum"(%A) <{operandSegmentSizes = array<i32: 1, 0>, indexing_maps = [affine_map<(d0) -> (d0)>], output = ["p"], ranks = ["p"], reductions = [], symbols = [],
                              predicate = []}> ({
  ^bb0(%a: f32):
    cascade.yield %a : f32
  }) : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

// A runtime size must be an integer argument.
// expected-error @+1 {{argument #1 gives the extent of rank 'w', so it must be an index, i32 or i64}}
func.func @scalar_not_integer(%A: tensor<?x?xf32>, %W: f32 {cascade.extent_of = "w"}) -> tensor<?xf32> {
  %X = cascade.einsum [p] = %A[p, m] reduce(m: add) where (p < m + W) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

// expected-error @+1 {{argument #1: 'cascade.default' must be an integer >= 1}}
func.func @scalar_default_zero(%A: tensor<?x?xf32>, %W: index {cascade.extent_of = "w", cascade.default = 0 : i64}) -> tensor<?xf32> {
  %X = cascade.einsum [p] = %A[p, m] reduce(m: add) where (p < m + W) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

// expected-error @+1 {{argument #1 has a 'cascade.default' but no 'cascade.extent_of' naming its rank}}
func.func @default_without_rank(%A: tensor<?x?xf32>, %W: index {cascade.default = 4 : i64}) -> tensor<?xf32> {
  %X = cascade.einsum [p] = %A[p, m] reduce(m: add) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

// A rank given by a scalar cannot also be a tensor's dimension.
func.func @scalar_rank_indexes(%A: tensor<?x?xf32>, %M: index {cascade.extent_of = "m"}) -> tensor<?xf32> {
  // expected-error @+1 {{rank 'm' is the value of scalar argument #1 and cannot also index argument #0 dimension 1}}
  %X = cascade.einsum [p] = %A[p, m] reduce(m: add) : (tensor<?x?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

// cascade.grid: the scheduled form's work items.

func.func @grid_tile_ranks(%X: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  cascade.partition p = p1 * 8 + p0
  %O = cascade.grid [b, p1] tile_extents(f = 4) -> ([b, p, f]) : tensor<?x?x?xf32> {
    %T = cascade.einsum T[f, p0] = %X[b, p1 * 8 + p0, f] : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
    // expected-error @+1 {{tile #0 has ranks [f, p0] but result #0 over [b, p, f] needs tiles over [p0, f]}}
    cascade.yield %T : tensor<?x?xf32>
  }
  return %O : tensor<?x?x?xf32>
}

// -----

func.func @grid_rank_not_in_result(%X: tensor<?x?x?xf32>) -> tensor<?x?xf32> {
  cascade.partition p = p1 * 8 + p0
  // expected-error @+1 {{result #0 has no rank for grid rank 'b': every work item would write all of it}}
  %O = cascade.grid [b, p1] tile_extents(f = 4) -> ([p, f]) : tensor<?x?xf32> {
    %T = cascade.einsum T[p0, f] = %X[b, p1 * 8 + p0, f] : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
    cascade.yield %T : tensor<?x?xf32>
  }
  return %O : tensor<?x?xf32>
}

// -----

func.func @grid_walks_whole_rank(%X: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  cascade.partition p = p1 * 8 + p0
  %O = cascade.grid [b, p1] -> ([b, p, f]) : tensor<?x?x?xf32> {
    // expected-error @+1 {{walks rank 'f' inside a cascade.grid, but a work item may walk only tile-local ranks (the inner rank of a partition, or a rank with a compile-time extent in the grid's tile_extents); add it to tile_extents or to the grid's ranks}}
    %T = cascade.einsum T[p0, f] = %X[b, p1 * 8 + p0, f] : (tensor<?x?x?xf32>) -> tensor<?x?xf32>
    cascade.yield %T : tensor<?x?xf32>
  }
  return %O : tensor<?x?x?xf32>
}

// -----

func.func @grid_output_is_fixed(%X: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  cascade.partition p = p1 * 8 + p0
  %O = cascade.grid [b, p1] tile_extents(f = 4) -> ([b, p, f]) : tensor<?x?x?xf32> {
    // expected-error @+1 {{output rank 'b' is fixed by an enclosing cascade.grid}}
    %T = cascade.einsum T[b, p0, f] = %X[b, p1 * 8 + p0, f] : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
    cascade.yield %T : tensor<?x?x?xf32>
  }
  return %O : tensor<?x?x?xf32>
}

// -----

func.func @grid_extent_conflict(%X: tensor<?x?x4xf32>) -> tensor<?x?x4xf32> {
  cascade.partition p = p1 * 8 + p0
  // expected-error @+1 {{tile_extents gives rank 'f' the extent 8 but the function's types give 4}}
  %O = cascade.grid [b, p1] tile_extents(f = 8) -> ([b, p, f]) : tensor<?x?x4xf32> {
    %T = cascade.einsum T[p0, f] = %X[b, p1 * 8 + p0, f] : (tensor<?x?x4xf32>) -> tensor<?x?xf32>
    cascade.yield %T : tensor<?x?xf32>
  }
  return %O : tensor<?x?x4xf32>
}

// -----

// Tile-local types may be static (cascade-partition-rank writes them): the
// query tile's size is the partition's tile, a head dimension's the grid's
// tile extent.
func.func @grid_static_query_tile(%X: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  cascade.partition p = p1 * 8 + p0
  %O = cascade.grid [b, p1] tile_extents(f = 4) -> ([b, p, f]) : tensor<?x?x?xf32> {
    // expected-error @+1 {{result dimension 0 has size 16 but rank 'p0' has extent 8}}
    %T = cascade.einsum T[p0, f] = %X[b, p1 * 8 + p0, f] : (tensor<?x?x?xf32>) -> tensor<16x4xf32>
    cascade.yield %T : tensor<16x4xf32>
  }
  return %O : tensor<?x?x?xf32>
}

// -----

func.func @grid_static_head_dim(%X: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  cascade.partition p = p1 * 8 + p0
  %O = cascade.grid [b, p1] tile_extents(f = 4) -> ([b, p, f]) : tensor<?x?x?xf32> {
    // expected-error @+1 {{result dimension 1 (rank 'f') has size 8 but the enclosing cascade.grid gives 'f' the tile extent 4}}
    %T = cascade.einsum T[p0, f] = %X[b, p1 * 8 + p0, f] : (tensor<?x?x?xf32>) -> tensor<8x8xf32>
    cascade.yield %T : tensor<8x8xf32>
  }
  return %O : tensor<?x?x?xf32>
}

// -----

func.func @grid_not_top_level(%X: tensor<?x?xf32>) -> tensor<?xf32> {
  cascade.partition m = m1 * 4 + m0
  cascade.partition p = p1 * 8 + p0
  %R0 = cascade.einsum R0[p] = 0.0 : () -> tensor<?xf32>
  %R = cascade.iterate m1 init(%r = %R0) : tensor<?xf32> {
    // expected-error @+1 {{must be at the top level of a function: the work grid is the outermost decomposition of a cascade}}
    %O = cascade.grid [p1] -> ([p]) : tensor<?xf32> {
      %T = cascade.einsum T[p0] = %X[m1 * 4 + m0, p1 * 8 + p0] reduce(m0: add) : (tensor<?x?xf32>) -> tensor<?xf32>
      cascade.yield %T : tensor<?xf32>
    }
    cascade.yield %O : tensor<?xf32>
  }
  return %R : tensor<?xf32>
}

// -----

func.func @grid_yield_count(%X: tensor<?x?xf32>) -> tensor<?x?xf32> {
  cascade.partition p = p1 * 8 + p0
  %O = cascade.grid [p1] tile_extents(f = 4) -> ([p, f]) : tensor<?x?xf32> {
    %T = cascade.einsum T[p0, f] = %X[p1 * 8 + p0, f] : (tensor<?x?xf32>) -> tensor<?x?xf32>
    // expected-error @+1 {{yields 2 tiles but the grid has 1 results}}
    cascade.yield %T, %T : tensor<?x?xf32>, tensor<?x?xf32>
  }
  return %O : tensor<?x?xf32>
}

// -----

func.func @tiles_outside_grid(%X: tensor<?x?xf32>) -> tensor<?xf32> {
  cascade.partition m = m1 * 4 + m0
  cascade.partition p = p1 * 8 + p0
  %R0 = cascade.einsum R0[p] = 0.0 : () -> tensor<?xf32>
  // expected-error @+1 {{#cascade.tiles is indexed by 'p1', which no enclosing cascade.grid fixes}}
  %R = cascade.iterate m1 init(%r = %R0) : tensor<?xf32> attributes {tiles = #cascade.tiles<query = "p", query_tile = 8, dims = ["p1"], symbols = ["m"], ranges = [#cascade.key_range<lower = (d0)[s0] -> (0), upper = (d0)[s0] -> (s0), full_lower = (d0)[s0] -> (0), full_upper = (d0)[s0] -> (0)>]>} {
    %N = cascade.einsum N[p] = %r[p] + %X[m1 * 4 + m0, p] reduce(m0: add) : (tensor<?xf32>, tensor<?x?xf32>) -> tensor<?xf32>
    cascade.yield %N : tensor<?xf32>
  }
  return %R : tensor<?xf32>
}

// -----

// Data comparisons come in pairs of reads, each with its map.
func.func @data_inputs_unpaired(%A: tensor<?xf32>, %D: tensor<?xi32>) -> tensor<?xf32> {
  // expected-error @+1 {{has 1 data inputs, 1 data maps and 1 data comparisons; expected two inputs and two maps per comparison}}
  %X = "cascade.einsum"(%A, %D) <{operandSegmentSizes = array<i32: 1, 1>, indexing_maps = [affine_map<(d0) -> (d0)>], data_maps = [affine_map<(d0) -> (d0)>], data_predicate = [#cascade.compare<eq>], output = ["p"], ranks = ["p"], reductions = [], symbols = []}> ({
  ^bb0(%a: f32):
    cascade.yield %a : f32
  }) : (tensor<?xf32>, tensor<?xi32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

func.func @data_compare_mixed_types(%A: tensor<?xf32>, %D: tensor<?xi32>, %E: tensor<?xi64>) -> tensor<?xf32> {
  // expected-error @+1 {{data comparison #0 compares reads of different types 'tensor<?xi32>' and 'tensor<?xi64>'}}
  %X = cascade.einsum [p] = %A[p] where %D[p] == %E[p] : (tensor<?xf32>, tensor<?xi32>, tensor<?xi64>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}

// -----

// A stacked result has the iterated rank in front of the step's shape.
func.func @stacked_wrong_shape(%A: tensor<?x4xf32>) -> tensor<?x4xf32> {
  cascade.partition p = p1 * 4 + p0
  %init = cascade.einsum I[p0] = 0.0 : () -> tensor<4xf32>
  // expected-error @+1 {{stacked result #0 has type 'tensor<?x8xf32>' but stacks the yielded 'tensor<4xf32>': it needs the iterated rank as a new leading dimension and the step's shape after}}
  %r, %s = cascade.iterate p1 init(%acc = %init) : tensor<4xf32> stack tensor<?x8xf32> {
    %n = cascade.einsum N[p0] = %acc[p0] + %A[p1 * 4 + p0, 0] : (tensor<4xf32>, tensor<?x4xf32>) -> tensor<4xf32>
    cascade.yield %n, %n : tensor<4xf32>, tensor<4xf32>
  }
  return %A : tensor<?x4xf32>
}

// -----

// A stacked value names its ranks through the Einsum that computes it.
func.func @stacked_block_argument(%A: tensor<?x4xf32>) -> tensor<?x4xf32> {
  cascade.partition p = p1 * 4 + p0
  %init = cascade.einsum I[p0] = 0.0 : () -> tensor<4xf32>
  %r, %s = cascade.iterate p1 init(%acc = %init) : tensor<4xf32> stack tensor<?x4xf32> {
    %n = cascade.einsum N[p0] = %acc[p0] + %A[p1 * 4 + p0, 0] : (tensor<4xf32>, tensor<?x4xf32>) -> tensor<4xf32>
    // expected-error @+1 {{stacks value #0, which is not an Einsum of the body}}
    cascade.yield %n, %acc : tensor<4xf32>, tensor<4xf32>
  }
  return %A : tensor<?x4xf32>
}

// -----

// A tile schedule skips steps; a stacked result needs all of them.
func.func @stacked_with_tile_schedule(%X: tensor<?x?xf32>) -> tensor<?xf32> {
  cascade.partition m = m1 * 4 + m0
  %R0 = cascade.einsum R0[p] = 0.0 : () -> tensor<?xf32>
  // expected-error @+1 {{stacks values but has a tile schedule}}
  %R, %Rs = cascade.iterate m1 init(%r = %R0) : tensor<?xf32> stack tensor<?x?xf32> attributes {tiles = #cascade.tiles<query = "p", query_tile = 8, dims = ["p#tile"], symbols = ["m"], ranges = [#cascade.key_range<lower = (d0)[s0] -> (0), upper = (d0)[s0] -> (s0), full_lower = (d0)[s0] -> (0), full_upper = (d0)[s0] -> (0)>]>} {
    %N = cascade.einsum N[p] = %r[p] + %X[m1 * 4 + m0, p] reduce(m0: add) : (tensor<?xf32>, tensor<?x?xf32>) -> tensor<?xf32>
    cascade.yield %N, %N : tensor<?xf32>, tensor<?xf32>
  }
  return %R : tensor<?xf32>
}
