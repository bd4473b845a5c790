"""tools/fit_gelu_deriv.py: the coefficients of ops/kernels/gelu_f32.c's
gf_dmid, gelu'(x) on |x| < 1 in f32 as (x - r)*Q(x) + gelu'(r).

gelu'(x) = Phi(x) + x*phi(x) has a root near x = -0.7518, where its two
O(1/2) terms cancel. r is the f32 nearest that root and Q the least-squares
Chebyshev fit, at 400 Chebyshev nodes of [-1, 1], of
(gelu'(x) - gelu'(r)) / (x - r), turned into monomial coefficients for
Horner's rule. Prints r, gelu'(r), the fit's worst relative error on a
fine grid and the coefficients (constant first), rounded to f32.

    /usr/bin/python3 tools/fit_gelu_deriv.py [DEGREE]   (default 12)
"""
import math
import sys

import numpy as np
from numpy.polynomial import chebyshev as C
from numpy.polynomial import polynomial as P


def dgelu(x):
    return 0.5 * math.erfc(-x / math.sqrt(2)) + x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)


lo, hi = -0.8, -0.7
for _ in range(200):
    mid = (lo + hi) / 2
    lo, hi = (mid, hi) if dgelu(mid) < 0 else (lo, mid)
r = float(np.float32((lo + hi) / 2))
c0 = dgelu(r)


def q(x):
    return (dgelu(x) - c0) / (x - r)


deg = int(sys.argv[1]) if len(sys.argv) > 1 else 12
n = 400
nodes = np.cos(np.pi * (np.arange(n) + 0.5) / n)
mono = C.cheb2poly(C.chebfit(nodes, [q(x) for x in nodes], deg))
grid = [x for x in np.linspace(-1, 1, 20001) if abs(x - r) > 1e-4]
err = max(abs(P.polyval(x, mono) - q(x)) / abs(q(x)) for x in grid)
print(f"r = {r:.9e}f, gelu'(r) = {c0:.9e}f, degree {deg}, fit relative error {err:.2e}")
for c in mono:
    print(f"{float(np.float32(c)):.9e}f")
