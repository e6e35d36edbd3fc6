func.func @multi_result(%A: tensor<?xf32>) -> tensor<?xf32> {
  %X = cascade.einsum [p] = map(%A[p]) {
  ^bb0(%a: f32):
    %s, %c = math.sincos %a : f32
    %r = arith.addf %s, %c : f32
    cascade.yield %r : f32
  } : (tensor<?xf32>) -> tensor<?xf32>
  return %X : tensor<?xf32>
}
