"""What the risk pages say about a run's problems and errors, in the reader's language.

Runs store codes (and the engine's own message, which names the factor or parameter at fault
and is shown as it is); the words are chosen here, when a page is rendered."""

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.risk.inputs import missing_text
from apps.risk.models import Method, RiskRun

ERRORS = {
    "empty": gettext_lazy("There is no booked trade to measure in this scope."),
    "no_curves": gettext_lazy("There is no forward curve on or before the run's day."),
    "unpriced": gettext_lazy("None of the positions could be priced (see what is missing)."),
    "internal": gettext_lazy("The run failed unexpectedly; the error was logged."),
    "snapshot_altered": gettext_lazy(
        "The snapshot no longer matches its SHA-256 digest (altered or damaged): nothing was "
        "rerun from it."
    ),
}


def run_error_text(run: RiskRun) -> str:
    if not run.error:
        return ""
    return str(ERRORS.get(run.error, run.error))


def describe_problems(problems: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per problem: where (a desk, or the firm), what, and the engine's words."""
    methods = dict(Method.choices)
    lines = []
    for problem in problems:
        scope = problem.get("scope") or _("the firm")
        code = problem.get("code")
        if code == "method_failed":
            text = _("%(method)s could not be measured for %(scope)s: %(reason)s") % {
                "method": methods.get(problem.get("method", ""), problem.get("method", "")),
                "scope": scope,
                "reason": problem.get("text", ""),
            }
        elif code == "covariance_fixed":
            text = _(
                "The covariance given was not positive semi-definite (smallest eigenvalue "
                "%(value)s); its nearest positive semi-definite matrix was used."
            ) % {"value": problem.get("min_eigenvalue", "")}
        elif code == "pfe_failed":
            text = _("Potential future exposure could not be simulated: %(reason)s") % {
                "reason": problem.get("text", "")
            }
        elif code == "limit_unmeasured":
            text = _("Limit #%(limit)s could not be measured by this run.") % {
                "limit": problem.get("limit", "")
            }
        elif code == "missing":
            text = _("Left out, for want of market data: %(items)s") % {
                "items": "; ".join(missing_text(problem.get("items", [])))
            }
        elif code == "empty":
            text = str(ERRORS["empty"])
        else:
            text = str(problem.get("text") or code)
        lines.append(text)
    return lines
