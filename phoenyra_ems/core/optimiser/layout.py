"""The LP's variable layout and its constraint matrix, cached per shape (see ``model``'s docstring).

Pure (no I/O): which column holds which variable, the sparse rows, and fixing battery steps.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.intp]

_CACHE_SIZE = 32


@dataclass(frozen=True, slots=True)
class Layout:
    """Where each block of variables starts."""

    n: int
    n_peak: int
    soc_rows: bool

    @property
    def c(self) -> int:
        return 0

    @property
    def d(self) -> int:
        return self.n

    @property
    def i(self) -> int:
        return 2 * self.n

    @property
    def x(self) -> int:
        return 3 * self.n

    @property
    def u(self) -> int:
        return 4 * self.n

    @property
    def v(self) -> int:
        return 5 * self.n

    @property
    def e(self) -> int:
        return 6 * self.n

    @property
    def p(self) -> int:
        return 7 * self.n

    @property
    def lo(self) -> int:
        return self.p + self.n_peak

    @property
    def hi(self) -> int:
        return self.lo + (self.n if self.soc_rows else 0)

    @property
    def n_var(self) -> int:
        return self.hi + (self.n if self.soc_rows else 0)


# --- the sparse structure, cached per shape -----------------------------------------------------

_CACHE: OrderedDict[tuple[Any, ...], Any] = OrderedDict()


def constraint_matrix(
    n: int, months: int, month_index: IntArray, h: float, eta_c: float, eta_d: float,
    soc_rows: bool, demand: bool,
) -> Any:  # fmt: skip
    """All rows as one CSC array (equalities first); built once per shape and reused."""
    key = (n, months, month_index.tobytes() if demand else b"", h, eta_c, eta_d, soc_rows, demand)
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    import scipy.sparse as sp

    lay = Layout(n, months if demand else 0, soc_rows)
    t = np.arange(n)
    ones = np.ones(n)
    rows = [t, t, t, t, t, t, n + t, n + t[1:], n + t, n + t]
    cols = [lay.i + t, lay.x + t, lay.d + t, lay.c + t, lay.u + t, lay.v + t, lay.e + t,
            lay.e + t[:-1], lay.c + t, lay.d + t]  # fmt: skip
    vals = [ones, -ones, ones, -ones, -ones, ones, ones, -ones[1:], -eta_c * h * ones, h / eta_d * ones]
    r = 2 * n
    if soc_rows:  # e + l >= e_min ; e - h <= e_max
        rows += [r + t, r + t, r + n + t, r + n + t]
        cols += [lay.e + t, lay.lo + t, lay.e + t, lay.hi + t]
        vals += [ones, ones, ones, -ones]
        r += 2 * n
    if demand:  # i_t - p_m(t) <= 0
        rows += [r + t, r + t]
        cols += [lay.i + t, lay.p + month_index]
        vals += [ones, -ones]
        r += n
    matrix = sp.csc_array(
        sp.coo_array(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r, lay.n_var)
        )
    )
    matrix.sort_indices()
    _CACHE[key] = matrix
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return matrix


def pin_battery(
    fixed_kw: FloatArray | None, n: int, lay: Layout, lower: FloatArray, upper: FloatArray
) -> bool:
    """Fix ``c``/``d`` (in place) where ``fixed_kw`` is a number; whether any step was fixed."""
    if fixed_kw is None:
        return False
    fixed = np.asarray(fixed_kw, dtype=np.float64)
    if fixed.shape != (n,):
        raise ValueError(f"battery_fixed_kw must have {n} steps, got shape {fixed.shape}")
    t = np.arange(n)
    dis = t[np.isfinite(fixed) & (fixed >= 0)]
    chg = t[np.isfinite(fixed) & (fixed < 0)]
    d_val = np.minimum(fixed[dis], upper[lay.d + dis])
    c_val = np.minimum(-fixed[chg], upper[lay.c + chg])
    lower[lay.d + dis], upper[lay.d + dis], upper[lay.c + dis] = d_val, d_val, 0.0
    lower[lay.c + chg], upper[lay.c + chg], upper[lay.d + chg] = c_val, c_val, 0.0
    return bool(len(dis) + len(chg))
