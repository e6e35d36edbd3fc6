#!/usr/bin/env python3
"""Writes q.npy, k.npy, v.npy (f32, [1, 2, P, 64] and [1, 2, M, 64]) into
the directory given: queries and keys uniform in [-40, 40], so that the
scaled scores reach about 1e4 (exp overflows without the max shift, a
polynomial of them overflows f16), and values in [30000, 60000], near f16's
largest finite 65504."""
import random
import struct
import sys
from array import array


def write(path, shape, values):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        ", ".join(map(str, shape)))
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(array("f", values).tobytes())


directory, p, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(1)
write(f"{directory}/q.npy", [1, 2, p, 64], [random.uniform(-40, 40) for _ in range(2 * p * 64)])
write(f"{directory}/k.npy", [1, 2, m, 64], [random.uniform(-40, 40) for _ in range(2 * m * 64)])
write(f"{directory}/v.npy", [1, 2, m, 64], [random.uniform(30000, 60000) for _ in range(2 * m * 64)])
