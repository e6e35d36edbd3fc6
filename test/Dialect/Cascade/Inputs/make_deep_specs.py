"""Writes specs nested far beyond the parsers' limits into the folder given."""
import os
import sys

out = sys.argv[1]


def spec(name, body, ranks=""):
    attr = ' {cascade.ranks = ["p"]}' if ranks else ""
    with open(os.path.join(out, name + ".mlir"), "w") as f:
        f.write("func.func @f(%X: tensor<?xf32>" + attr + ") -> tensor<?xf32> {\n"
                "  %Y = cascade.einsum Y[p] = " + body +
                " : (tensor<?xf32>) -> tensor<?xf32>\n"
                "  return %Y : tensor<?xf32>\n}\n")


n = 20000
spec("terms", " + ".join(["%X[p]"] * n))
spec("exp", "exp(" * n + "%X[p]" + ")" * n)
spec("parens", "(" * 200000 + "%X[p]" + ")" * 200000)
spec("index", "%X[" + "(" * n + "p" + ")" * n + "]", ranks=True)
spec("ok", " + ".join(["%X[p]"] * 500))
chain = "\n".join("    %%v%d = arith.addf %%v%d, %%x : f32" % (k + 1, k)
                  for k in range(n))
with open(os.path.join(out, "region.mlir"), "w") as f:
    f.write("func.func @f(%X: tensor<?xf32>) -> tensor<?xf32> {\n"
            "  %Y = cascade.einsum Y[p] = map(%X[p]) {\n  ^bb0(%x: f32):\n"
            "    %v0 = arith.addf %x, %x : f32\n" + chain +
            "\n    cascade.yield %v" + str(n) + " : f32\n"
            "  } : (tensor<?xf32>) -> tensor<?xf32>\n  return %Y : tensor<?xf32>\n}\n")
