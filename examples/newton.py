"""Newton's method with picograd's second derivatives.

To minimize f, step x <- x - f'(x) / f''(x): the first derivative says which way is
down, the second how far, so each step roughly doubles the correct digits. Here f is
e^x - 2x, whose minimum is at x = ln 2 (where f'(x) = e^x - 2 = 0 and f''(x) = e^x > 0).

    python examples/newton.py          # from x = 0
    python examples/newton.py 3.0      # from elsewhere
"""

from __future__ import annotations

import math
import sys

from picograd import Value, grad


def f(x: Value) -> Value:
    return x.exp() - 2.0 * x


def newton(x0: float, steps: int = 8, tol: float = 1e-14) -> float:
    """Minimize f from x0 with Newton's method, printing each step."""
    x = x0
    print(f"{'step':>4}  {'x':>20}  {'f(x)':>20}  {'df/dx':>10}  {'d2f/dx2':>10}")
    for step in range(steps):
        v = Value(x)
        y = f(v)
        (slope,) = grad(y, v, create_graph=True)  # f'(x), a Value with its own graph
        (curvature,) = grad(slope, v)             # f''(x), a number
        print(f"{step:>4}  {x:>20.16f}  {y.data:>20.16f}  {slope.data:>10.2e}  "
              f"{curvature:>10.4f}")
        if abs(slope.data) < tol:
            break
        x -= slope.data / curvature
    return x


def main(argv: list[str]) -> None:
    x = newton(float(argv[0]) if argv else 0.0)
    print(f"minimum at x = {x!r}; ln 2 = {math.log(2.0)!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
