// softmax_causal after cascade-minimize-passes and cascade-classify-tiles, with the
// diagonal key tile wrongly called full (full_upper = upper): for
// classify-tiles.test, which checks that the interpreter catches it.
module {
  func.func @softmax_causal(%arg0: tensor<?x?x?x?xf32>, %arg1: tensor<?x?x?x?xf32>, %arg2: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
    cascade.partition m = m1 * 64 + m0
    %RM0 = cascade.einsum RM0[b, h, p] = -inf : () -> tensor<?x?x?xf32>
    %RSD0 = cascade.einsum RSD0[b, h, p] = 0.0 : () -> tensor<?x?x?xf32>
    %RSNAV0 = cascade.einsum RSNAV0[b, h, p, f] = 0.0 : () -> tensor<?x?x?x?xf32>
    %RM, %RSD, %RSNAV = cascade.iterate m1 init(%rm = %RM0, %rsd = %RSD0, %rsnav = %RSNAV0) : tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?x?xf32> attributes {tiles = #cascade.tiles<query = "p", query_tile = 64, dims = ["p#tile"], symbols = ["m", "p"], ranges = [#cascade.key_range<lower = (d0)[s0, s1] -> (0), upper = (d0)[s0, s1] -> (s0 ceildiv 64, (d0 * 64 + s0 - s1 + 63) floordiv 64 + 1), full_lower = (d0)[s0, s1] -> (0), full_upper = (d0)[s0, s1] -> (s0 ceildiv 64, (d0 * 64 + s0 - s1 + 63) floordiv 64 + 1)>]>} {
      %BQK = cascade.einsum BQK[b, h, m0, p] = %arg0[b, h, p, e] * %arg1[b, h, m1 * 64 + m0, e] / sqrt(E) reduce(e: add) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
      %LM = cascade.einsum LM[b, h, p] = %BQK[b, h, m0, p] reduce(m0: max) where (p - (m1 * 64 + m0) + M - P >= 0) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
      %RM_0 = cascade.einsum RM[b, h, p] = max(%rm[b, h, p], %LM[b, h, p]) : (tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
      %LSN = cascade.einsum LSN[b, h, m0, p] = exp(%BQK[b, h, m0, p] - %RM_0[b, h, p]) where (-(m1 * 64 + m0) + p + M - P >= 0) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
      %PRM = cascade.einsum PRM[b, h, p] = map(%rm[b, h, p], %RM_0[b, h, p]) {
      ^bb0(%arg3: f32, %arg4: f32):
        %0 = arith.subf %arg3, %arg4 : f32
        %1 = math.exp %0 : f32
        %2 = arith.cmpf oeq, %arg3, %arg4 : f32
        %cst = arith.constant 1.000000e+00 : f32
        %3 = arith.select %2, %cst, %1 : f32
        cascade.yield %3 : f32
      } : (tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
      %LSD = cascade.einsum LSD[b, h, p] = %LSN[b, h, m0, p] reduce(m0: add) : (tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
      %RSD_1 = cascade.einsum RSD[b, h, p] = map(%LSD[b, h, p], %rsd[b, h, p], %PRM[b, h, p]) {
      ^bb0(%arg3: f32, %arg4: f32, %arg5: f32):
        %0 = arith.mulf %arg4, %arg5 : f32
        %1 = arith.addf %arg3, %0 : f32
        %cst = arith.constant 0.000000e+00 : f32
        %2 = arith.cmpf oeq, %arg5, %cst : f32
        %3 = arith.select %2, %arg3, %1 : f32
        cascade.yield %3 : f32
      } : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
      %LSNAV = cascade.einsum LSNAV[b, h, p, f] = %LSN[b, h, m0, p] * %arg2[b, h, m1 * 64 + m0, f] reduce(m0: add) where (-(m1 * 64 + m0) + p + M - P >= 0) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32>
      %RSNAV_2 = cascade.einsum RSNAV[b, h, p, f] = map(%LSNAV[b, h, p, f], %rsnav[b, h, p, f], %PRM[b, h, p]) {
      ^bb0(%arg3: f32, %arg4: f32, %arg5: f32):
        %0 = arith.mulf %arg4, %arg5 : f32
        %1 = arith.addf %arg3, %0 : f32
        %cst = arith.constant 0.000000e+00 : f32
        %2 = arith.cmpf oeq, %arg5, %cst : f32
        %3 = arith.select %2, %arg3, %1 : f32
        cascade.yield %3 : f32
      } : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
      cascade.yield %RM_0, %RSD_1, %RSNAV_2 : tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?x?xf32>
    }
    %AV = cascade.einsum AV[b, h, p, f] = %RSNAV[b, h, p, f] / %RSD[b, h, p] where (P <= p + M, 1 <= M) else 0.0 : (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?x?xf32>
    return %AV : tensor<?x?x?x?xf32>
  }
}

