"""Monte Carlo VaR and ES: correlated normal or Student-t factor shocks, options revalued in full.

Each path draws k independent standard normals z and takes the relative factor moves
x = √h · z @ A, where AᵀA is the one-day factor covariance (`FactorCovariance.root`; k is the
number of factors, or the covariance's rank when it is singular). With Student-t shocks every
path's moves are scaled by √((ν − 2)/W), W ~ χ²(ν): a multivariate t with ν degrees of freedom
and the same covariance (unit variance per normal), so its tails are fatter and joint.

Linear P&L per column (total, books, markets, tenors) is z @ (√h·A·E) for the exposure matrix
E (factors × columns): a path's linear P&L costs one product with k × columns numbers, and the
moves of all factors are never formed. Options need the moves of their own factors only,
z @ (√h·A[:, option factors]), drawn from a rotation of the normals that needs only the first m
of them for m option factors (`rotated_maps`), and are revalued by Black-76 in full
(`OptionRevaluer`).
P&L is summed into columns as the paths are drawn — never a paths × positions array — in
chunks of `chunk_paths` paths, so memory stays bounded whatever the number of paths.

Threads: the chunks run on `workers` threads (numpy releases the GIL in its draws, products and
element-wise functions). Run a risk worker with its BLAS single-threaded (OPENBLAS_NUM_THREADS=1):
BLAS threads that spin-wait after each product otherwise compete with the chunk threads for the
same cores (1.6–2.5× slower on a 2-core machine).

Reproducibility: chunk i draws from its own generator, `SeedSequence(seed).spawn(chunks)[i]`
(PCG64), so the same seed, inputs and chunk size give the same numbers whether the chunks run
on one thread or several (`workers`).
"""

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from apps.risk.engine.covariance import FactorCovariance
from apps.risk.engine.errors import RiskInputError, check_confidence, check_positive_int
from apps.risk.engine.inputs import GroupLayout, Portfolio
from apps.risk.engine.options import OptionRevaluer
from apps.risk.engine.var import VarResult, delta_exposures, scenario_risk

DISTRIBUTIONS = ("normal", "student_t")


@dataclass(frozen=True)
class ShockModel:
    """How a path's standard normals become factor moves: the distribution and its dof."""

    distribution: str = "normal"
    dof: float = 5.0

    def __post_init__(self) -> None:
        if self.distribution not in DISTRIBUTIONS:
            raise RiskInputError(
                f"distribution must be one of {', '.join(DISTRIBUTIONS)}, got {self.distribution!r}"
            )
        if self.distribution == "student_t" and not float(self.dof) > 2.0:
            raise RiskInputError(
                f"Student-t shocks need more than 2 degrees of freedom (finite variance), "
                f"got {self.dof!r}"
            )

    def draw(self, rng: np.random.Generator, normals: np.ndarray) -> np.ndarray | None:
        """Fill `normals` (rows × k) and return the per-path scale of Student-t shocks (None
        for normal shocks)."""
        rng.standard_normal(out=normals)
        if self.distribution == "normal":
            return None
        chi2 = rng.chisquare(self.dof, normals.shape[0])
        return np.sqrt((self.dof - 2.0) / chi2)


def check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise RiskInputError(f"seed must be a non-negative whole number, got {seed!r}")
    return seed


def run_chunks(
    *,
    paths: int,
    chunk_paths: int,
    seed: int,
    workers: int | None,
    shape: tuple[int, ...],
    simulate: Callable[[np.random.Generator, int, np.ndarray], None],
) -> np.ndarray:
    """Run `simulate(rng, rows, out)` for each chunk of paths, writing its rows of the result
    (paths × *shape). Chunk i always gets generator i of the seed, whichever thread runs it;
    `workers` threads (default: the CPUs, at most 4) share the chunks — numpy releases the GIL
    in its draws, products and element-wise functions."""
    if workers is not None:
        check_positive_int(workers, "workers")
    chunks = -(-paths // chunk_paths)
    seeds = np.random.SeedSequence(seed).spawn(chunks)
    result = np.empty((paths, *shape))
    threads = max(1, min(workers or min(os.cpu_count() or 1, 4), chunks))

    def run(first: int) -> None:
        for chunk in range(first, chunks, threads):
            start = chunk * chunk_paths
            stop = min(paths, start + chunk_paths)
            rng = np.random.Generator(np.random.PCG64(seeds[chunk]))
            simulate(rng, stop - start, result[start:stop])

    if threads == 1:
        run(0)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for future in [pool.submit(run, first) for first in range(threads)]:
                future.result()
    return result


def rotated_maps(linear: np.ndarray, options: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rotate the normals so that the options' factors depend on the first few only.

    With z @ linear the linear P&L per column (k × columns) and z @ options the moves of the m
    option factors (k × m), take the complete QR decomposition options = Q·R (Q orthogonal k × k,
    R zero below row min(k, m)). The rotated normals z·Q are again independent standard normals,
    and in them the moves are z[:, :m] @ R[:m] and the linear P&L z @ (Qᵀ·linear): the same joint
    distribution for m·m multiplications a path instead of k·m (m = 240 option factors of
    k = 1,000: a quarter).
    """
    if options.shape[1] == 0:
        return linear, options[:0]
    q, r = np.linalg.qr(options, mode="complete")
    used = min(options.shape)
    return q.T @ linear, np.ascontiguousarray(r[:used])


def monte_carlo_pnl(
    portfolio: Portfolio,
    covariance: FactorCovariance,
    layout: GroupLayout,
    *,
    seed: int,
    horizon_days: int = 1,
    paths: int = 100_000,
    distribution: str = "normal",
    dof: float = 5.0,
    chunk_paths: int = 10_000,
    workers: int | None = None,
) -> np.ndarray:
    """The simulated P&L per path and layout column (paths × columns), options revalued in
    full: one set of paths can serve every confidence and scope of a risk run."""
    check_positive_int(horizon_days, "horizon_days")
    check_positive_int(paths, "paths")
    check_positive_int(chunk_paths, "chunk_paths")
    check_seed(seed)
    model = ShockModel(distribution, dof)
    root = covariance.root(portfolio.factor_names) * np.sqrt(horizon_days)  # k × factors
    revaluer = OptionRevaluer(portfolio.options)
    option_weights = layout.option_matrix(portfolio)
    linear_map, option_map = rotated_maps(
        root @ layout.linear_matrix(portfolio), root[:, revaluer.factors]
    )
    k, width, used = root.shape[0], layout.width, option_map.shape[0]
    chunk_paths = min(chunk_paths, paths)
    buffers: dict[int, np.ndarray] = {}

    def simulate(rng: np.random.Generator, rows: int, out: np.ndarray) -> None:
        # A normals buffer per thread: no fresh 80 MB array (and its page faults) per chunk.
        thread = threading.get_ident()
        if thread not in buffers:
            buffers[thread] = np.empty((chunk_paths, k))
        normals = buffers[thread][:rows]
        scale = model.draw(rng, normals)
        np.matmul(normals, linear_map, out=out)
        if scale is not None:
            out *= scale[:, None]
        if revaluer.count:
            moves = normals[:, :used] @ option_map
            if scale is not None:
                moves *= scale[:, None]
            out += revaluer.pnl(moves, option_weights)

    return run_chunks(
        paths=paths,
        chunk_paths=chunk_paths,
        seed=seed,
        workers=workers,
        shape=(width,),
        simulate=simulate,
    )


def monte_carlo_var(
    portfolio: Portfolio,
    covariance: FactorCovariance,
    *,
    confidence: float,
    seed: int,
    horizon_days: int = 1,
    paths: int = 100_000,
    distribution: str = "normal",
    dof: float = 5.0,
    chunk_paths: int = 10_000,
    workers: int | None = None,
    group_by: Iterable[str] | None = None,
) -> VarResult:
    """Monte Carlo VaR and ES with full revaluation of options; quantile convention and
    components as in `apps.risk.engine.var` (equal weights per path)."""
    confidence = check_confidence(confidence)
    layout = portfolio.layout(group_by)
    pnl = monte_carlo_pnl(
        portfolio,
        covariance,
        layout,
        seed=seed,
        horizon_days=horizon_days,
        paths=paths,
        distribution=distribution,
        dof=dof,
        chunk_paths=chunk_paths,
        workers=workers,
    )
    result = scenario_risk(
        method="monte_carlo",
        pnl=pnl,
        layout=layout,
        confidence=confidence,
        horizon_days=horizon_days,
        exposure=delta_exposures(portfolio, layout),  # for the groups' marginal VaR
    )
    return replace(
        result, covariance_fixed=covariance.fixed, min_eigenvalue=covariance.min_eigenvalue
    )
