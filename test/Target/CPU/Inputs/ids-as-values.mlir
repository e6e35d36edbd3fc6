// Ids used as values (converted and added to Q): the CPU backend reads
// integer tensors only in data comparisons and says so at the Einsum.
func.func @ids_as_values(%Q: tensor<?x?x?x?xf32>, %D: tensor<?x?xi32>) -> tensor<?x?x?x?xf32> {
  %O = cascade.einsum O[b, h, p, e] = map(%Q[b, h, p, e], %D[b, p]) {
  ^bb0(%q: f32, %d: i32):
    %x = arith.sitofp %d : i32 to f32
    %y = arith.addf %q, %x : f32
    cascade.yield %y : f32
  } : (tensor<?x?x?x?xf32>, tensor<?x?xi32>) -> tensor<?x?x?x?xf32>
  return %O : tensor<?x?x?x?xf32>
}
