"""A risk run's parameters: defaults, limits and the one validation every door uses (page form,
API serializer, scheduled and incremental runs), so that a confidence of 1.5 or a window of 0
is a field error before a run exists, never an engine failure afterwards."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from qenergyz.validators import is_decimal_text, parse_decimal

METHODS = ("historical", "parametric", "monte_carlo")
COVARIANCES = ("sample", "ewma", "given")
DISTRIBUTIONS = ("normal", "student_t")

MAX_CONFIDENCES = 5
MAX_HORIZON_DAYS = 20
MAX_WINDOW = 1_000
MAX_PATHS = 200_000
MAX_CREDIT_PATHS = 20_000
MAX_SEED = 2**63 - 1
MAX_GIVEN_FACTORS = 200


@dataclass(frozen=True)
class RunParameters:
    """What a run measures and how. Confidences are fractions (0.99 for 99 %); the horizon is
    in business days; `window` is the number of daily returns of history used by historical
    simulation and by the covariance estimate."""

    confidences: tuple[float, ...] = (0.95, 0.975, 0.99)
    horizon_days: int = 1
    window: int = 250
    age_decay: float | None = None
    methods: tuple[str, ...] = METHODS
    covariance: str = "ewma"
    ewma_decay: float = 0.94
    paths: int = 10_000
    seed: int = 20_260_101
    distribution: str = "normal"
    dof: float = 5.0
    stress: bool = True
    credit: bool = True
    credit_paths: int = 2_000
    pfe_confidence: float = 0.95
    pfe_horizons: tuple[int, ...] = (5, 21, 63, 126, 252)
    backtest: bool = True
    # A hand-made covariance of one-day relative returns for parametric and Monte Carlo
    # ("given"): {"factors": [names], "matrix": [[...]]}; repaired when not positive
    # semi-definite, and the run says so.
    covariance_matrix: dict[str, Any] | None = field(default=None, compare=False)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in ("confidences", "methods", "pfe_horizons"):
            data[name] = list(data[name])
        return data

    @property
    def backtest_confidence(self) -> float:
        """The confidence the backtest and the P&L chart use: 99 % when measured."""
        return 0.99 if 0.99 in self.confidences else max(self.confidences)


FULL = RunParameters()
# The quick re-run of a desk after a booking: the two fast methods only.
INCREMENTAL = replace(
    FULL, methods=("historical", "parametric"), stress=False, credit=False, backtest=False
)


def _number(value: Any, name: str, errors: dict[str, list[str]]) -> float | None:
    if isinstance(value, bool):
        errors.setdefault(name, []).append(_("Enter a number."))
        return None
    try:
        # Plain digits only (float() reads "１０" and "1_000" too).
        number = float(parse_decimal(value) if isinstance(value, str) else value)
    except (TypeError, ValueError):
        errors.setdefault(name, []).append(_("Enter a number."))
        return None
    if number != number or number in (float("inf"), float("-inf")):
        errors.setdefault(name, []).append(_("Enter a finite number."))
        return None
    return number


def _whole(value: Any, name: str, low: int, high: int, errors: dict[str, list[str]]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | str | float):
        errors.setdefault(name, []).append(_("Enter a whole number."))
        return None
    try:
        text = str(value).strip()
        if not (is_decimal_text(text) and "." not in text):
            raise ValueError(text)
        number = int(text)
    except ValueError:
        errors.setdefault(name, []).append(_("Enter a whole number."))
        return None
    if not low <= number <= high:
        errors.setdefault(name, []).append(
            _("Enter a whole number from %(low)s to %(high)s.") % {"low": low, "high": high}
        )
        return None
    return number


def _open_fraction(value: Any, name: str, errors: dict[str, list[str]]) -> float | None:
    number = _number(value, name, errors)
    if number is not None and not 0.0 < number < 1.0:
        errors.setdefault(name, []).append(
            _("Must lie strictly between 0 and 1 (0.99 for 99 %%); got %(value)s.")
            % {"value": value}
        )
        return None
    return number


def _list(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [part for part in value.replace(";", ",").split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def parameters_clean(raw: Mapping[str, Any] | None, *, base: RunParameters = FULL) -> RunParameters:
    """`base` with the values of `raw` (JSON or form data) applied, each checked; raises
    ValidationError with one message list per field name."""
    raw = dict(raw or {})
    unknown = sorted(set(raw) - set(RunParameters.__dataclass_fields__))
    errors: dict[str, list[str]] = {}
    for name in unknown:
        errors[name] = [_("Unknown parameter.")]
    values: dict[str, Any] = {}

    if "confidences" in raw:
        items = _list(raw["confidences"])
        if not items or len(items) > MAX_CONFIDENCES:
            errors["confidences"] = [
                _("Give 1 to %(max)s confidence levels.") % {"max": MAX_CONFIDENCES}
            ]
        else:
            levels = [_open_fraction(item, "confidences", errors) for item in items]
            if "confidences" not in errors:
                values["confidences"] = tuple(sorted({float(c) for c in levels if c is not None}))
    if "horizon_days" in raw:
        values["horizon_days"] = _whole(
            raw["horizon_days"], "horizon_days", 1, MAX_HORIZON_DAYS, errors
        )
    if "window" in raw:
        values["window"] = _whole(raw["window"], "window", 2, MAX_WINDOW, errors)
    if "age_decay" in raw:
        values["age_decay"] = (
            None
            if raw["age_decay"] in (None, "")
            else _open_fraction(raw["age_decay"], "age_decay", errors)
        )
    if "ewma_decay" in raw:
        values["ewma_decay"] = _open_fraction(raw["ewma_decay"], "ewma_decay", errors)
    if "pfe_confidence" in raw:
        values["pfe_confidence"] = _open_fraction(raw["pfe_confidence"], "pfe_confidence", errors)
    if "methods" in raw:
        methods = [str(m).strip() for m in _list(raw["methods"])]
        bad = [m for m in methods if m not in METHODS]
        if bad or not methods:
            errors["methods"] = [_("Choose among %(choices)s.") % {"choices": ", ".join(METHODS)}]
        else:
            values["methods"] = tuple(m for m in METHODS if m in methods)
    for name, choices in (("covariance", COVARIANCES), ("distribution", DISTRIBUTIONS)):
        if name in raw:
            if raw[name] not in choices:
                errors[name] = [_("Choose among %(choices)s.") % {"choices": ", ".join(choices)}]
            else:
                values[name] = raw[name]
    if "paths" in raw:
        values["paths"] = _whole(raw["paths"], "paths", 100, MAX_PATHS, errors)
    if "credit_paths" in raw:
        values["credit_paths"] = _whole(
            raw["credit_paths"], "credit_paths", 100, MAX_CREDIT_PATHS, errors
        )
    if "seed" in raw:
        values["seed"] = _whole(raw["seed"], "seed", 0, MAX_SEED, errors)
    if "dof" in raw:
        dof = _number(raw["dof"], "dof", errors)
        if dof is not None and not 2.0 < dof <= 1000.0:
            errors.setdefault("dof", []).append(_("Degrees of freedom must be above 2."))
        values["dof"] = dof
    for name in ("stress", "credit", "backtest"):
        if name in raw:
            value = raw[name]
            if isinstance(value, str):
                value = value.strip().lower() in ("1", "true", "on", "yes")
            if not isinstance(value, bool):
                errors[name] = [_("Enter true or false.")]
            else:
                values[name] = value
    if "pfe_horizons" in raw:
        horizons = [_whole(h, "pfe_horizons", 1, 2_520, errors) for h in _list(raw["pfe_horizons"])]
        if "pfe_horizons" not in errors:
            if not horizons or len(horizons) > 12:
                errors["pfe_horizons"] = [_("Give 1 to 12 horizons in business days.")]
            else:
                values["pfe_horizons"] = tuple(sorted({h for h in horizons if h is not None}))
    if "covariance_matrix" in raw and raw["covariance_matrix"] is not None:
        values["covariance_matrix"] = _given_matrix(raw["covariance_matrix"], errors)

    if errors:
        raise ValidationError(errors)
    result = replace(base, **values)
    if result.covariance == "given" and result.covariance_matrix is None:
        raise ValidationError(
            {"covariance_matrix": [_("A given covariance needs its factors and matrix.")]}
        )
    return result


def _given_matrix(value: Any, errors: dict[str, list[str]]) -> dict[str, Any] | None:
    """{"factors": [...], "matrix": [[...]]}: square, numbers only; its definiteness is the
    engine's to check and repair."""
    name = "covariance_matrix"
    if not isinstance(value, dict) or set(value) != {"factors", "matrix"}:
        errors[name] = [_("Give an object with factors and matrix.")]
        return None
    factors, matrix = value["factors"], value["matrix"]
    if (
        not isinstance(factors, list)
        or not factors
        or len(factors) > MAX_GIVEN_FACTORS
        or not all(isinstance(f, str) and f for f in factors)
        or len(set(factors)) != len(factors)
    ):
        errors[name] = [
            _("factors must be 1 to %(max)s distinct names.") % {"max": MAX_GIVEN_FACTORS}
        ]
        return None
    if (
        not isinstance(matrix, list)
        or len(matrix) != len(factors)
        or not all(isinstance(row, list) and len(row) == len(factors) for row in matrix)
    ):
        errors[name] = [_("matrix must be square, one row and column per factor.")]
        return None
    rows = []
    for row in matrix:
        numbers = [_number(x, name, errors) for x in row]
        if name in errors:
            return None
        rows.append(numbers)
    return {"factors": list(factors), "matrix": rows}


def parameters_from_json(data: Mapping[str, Any]) -> RunParameters:
    """The parameters a run stored (already validated when it was requested)."""
    values = dict(data)
    for name in ("confidences", "methods", "pfe_horizons"):
        if name in values:
            values[name] = tuple(values[name])
    return RunParameters(**values)
