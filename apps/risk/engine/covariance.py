"""Covariance of one-day relative factor returns — estimated (sample, EWMA) or given — held as
a square-root factor A (k × factors) with Σ = AᵀA.

Why a factor: an estimate from n returns already is one (A = the weighted, centred returns,
k = n), so parametric VaR is eᵀΣe = ‖A·e‖² without ever forming the factors × factors matrix,
Monte Carlo draws correlated shocks as z @ A without a decomposition, and both work when there
are fewer returns than factors (Σ singular). Estimates are positive semi-definite by
construction and need no check.

A matrix given from outside (a hand-made or stressed covariance) is decomposed once (symmetric
eigen-decomposition). If its smallest eigenvalue is below −1e-10 × its largest, it is replaced
by the nearest positive semi-definite matrix in the Frobenius norm — negative eigenvalues clipped
to zero (Higham, "Computing a nearest symmetric positive semidefinite matrix", 1988) — and
`fixed` says so, with the offending eigenvalue in `min_eigenvalue`.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from apps.risk.engine.errors import RiskInputError, check_decay, check_positive_int, quoted
from apps.risk.engine.inputs import FactorHistory, as_float_array

# An eigenvalue below −(this × the largest) is a defect of the matrix, not rounding.
NEGATIVE_EIGENVALUE_TOLERANCE = 1e-10


@dataclass(frozen=True, eq=False)
class FactorCovariance:
    """Σ = factorᵀ·factor, the covariance of one-day relative returns of `names` (a horizon of
    h days scales it by h).

    method: "sample", "ewma" or "given". fixed: the given matrix was not positive
    semi-definite and was replaced by its nearest positive semi-definite matrix.
    min_eigenvalue: the smallest eigenvalue of the given matrix (None for estimates).
    """

    names: tuple[str, ...]
    factor: np.ndarray
    method: str
    fixed: bool = False
    min_eigenvalue: float | None = None
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", tuple(self.names))
        self.factor.setflags(write=False)
        object.__setattr__(self, "_index", {name: i for i, name in enumerate(self.names)})

    @cached_property
    def matrix(self) -> np.ndarray:
        """Σ itself (factors × factors), formed only when asked for."""
        return _symmetric(self.factor.T @ self.factor)

    def root(self, factors: Sequence[str]) -> np.ndarray:
        """The factor's columns for `factors`, in that order (k × len(factors)): correlated
        one-day moves of those factors are z @ root for k independent standard normals z."""
        if tuple(factors) == self.names:
            return self.factor
        missing = [name for name in factors if name not in self._index]
        if missing:
            raise RiskInputError(f"the covariance does not cover factor(s) {quoted(missing)}")
        return self.factor[:, [self._index[name] for name in factors]]

    def aligned(self, factors: Sequence[str]) -> np.ndarray:
        """Σ of `factors`, in that order."""
        root = self.root(factors)
        return _symmetric(root.T @ root)


def sample_covariance(
    history: FactorHistory, factors: Sequence[str], *, window: int = 250
) -> FactorCovariance:
    """The sample covariance (mean removed, divided by n − 1) of the last `window` one-day
    relative returns: factor = (R − mean)/√(n − 1)."""
    if check_positive_int(window, "window") < 2:
        raise RiskInputError("a sample covariance needs a window of at least 2 returns")
    returns = history.relative_returns(factors, window=window)
    returns -= returns.mean(axis=0)
    returns /= np.sqrt(window - 1)
    return FactorCovariance(tuple(factors), returns, "sample")


def ewma_weights(count: int, decay: float) -> np.ndarray:
    """Weights of the EWMA recursion over `count` returns, oldest first, summing to 1:

    Σ₁ = r₁r₁ᵀ,   Σₜ = λ·Σₜ₋₁ + (1 − λ)·rₜrₜᵀ   ⇒   Σₙ = Σₜ wₜ·rₜrₜᵀ
    with w₁ = λⁿ⁻¹ and wₜ = (1 − λ)·λⁿ⁻ᵗ for t ≥ 2.
    """
    ages = np.arange(count - 1, -1, -1, dtype=np.float64)  # n − t
    weights = (1.0 - decay) * decay**ages
    weights[0] = decay ** (count - 1)
    return weights


def ewma_covariance(
    history: FactorHistory, factors: Sequence[str], *, window: int = 250, decay: float = 0.94
) -> FactorCovariance:
    """RiskMetrics' exponentially weighted covariance (zero mean) of the last `window` one-day
    relative returns by the recursion in `ewma_weights` (λ = 0.94 for daily data):
    factor = √w ⊙ R."""
    check_positive_int(window, "window")
    decay = check_decay(decay, "the EWMA decay")
    returns = history.relative_returns(factors, window=window)
    returns *= np.sqrt(ewma_weights(window, decay))[:, None]
    return FactorCovariance(tuple(factors), returns, "ewma")


def covariance_from_matrix(names: Sequence[str], matrix: object) -> FactorCovariance:
    """A given covariance of one-day relative returns (factors × factors), checked, decomposed
    and if need be repaired (see the module's docstring)."""
    names = tuple(str(name) for name in names)
    if len(set(names)) != len(names):
        raise RiskInputError("covariance factor names must be unique")
    array = as_float_array(matrix, "the covariance matrix", 2)
    if array.shape != (len(names), len(names)) or not names:
        raise RiskInputError(
            f"the covariance matrix is {array.shape[0]}×{array.shape[1]} for {len(names)} factors"
        )
    finite = np.isfinite(array)
    if not finite.all():
        row = int(np.flatnonzero(~finite.all(axis=1))[0])
        raise RiskInputError(f"the covariance of factor {names[row]!r} is not a finite number")
    asymmetry = np.abs(array - array.T)
    if asymmetry.max() > 1e-12 * max(float(np.abs(array).max()), 1e-300):
        i, j = np.unravel_index(int(asymmetry.argmax()), asymmetry.shape)
        raise RiskInputError(
            f"the covariance matrix is not symmetric ({names[i]!r} with {names[j]!r})"
        )
    negative = np.flatnonzero(np.diag(array) < 0)
    if negative.size:
        raise RiskInputError(f"factor {names[int(negative[0])]!r} has a negative variance")
    values, vectors = np.linalg.eigh(_symmetric(array))
    smallest, largest = float(values[0]), float(np.abs(values).max())
    fixed = smallest < -NEGATIVE_EIGENVALUE_TOLERANCE * largest
    keep = values > 0.0
    factor = np.sqrt(values[keep])[:, None] * vectors[:, keep].T
    return FactorCovariance(names, factor, "given", fixed, smallest)


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    """Exactly symmetric (matrix products leave rounding differences across the diagonal)."""
    return (matrix + matrix.T) * 0.5
