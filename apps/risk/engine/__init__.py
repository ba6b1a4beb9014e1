"""The risk engine: pure numpy/scipy, no Django (an import-linter contract holds that).

Inputs (`inputs`): a `Portfolio` of linear exposures and options over named factors, built with
`PortfolioBuilder` from Decimals, and a `FactorHistory` of daily factor prices. Outputs are small
frozen dataclasses of floats:

- `historical_var`, `parametric_var` (`var`), `monte_carlo_var` (`montecarlo`): VaR and ES with
  standalone and component figures by book, market, tenor or any label; `monte_carlo_pnl`, the
  simulated P&L per path that a risk run reduces at several confidences;
- `sample_covariance`, `ewma_covariance`, `covariance_from_matrix` (`covariance`);
- `stress_test` (`stress`), `credit_exposure` and `simulate_value_changes` (`exposure`),
  `backtest`, `kupiec_pof`, `traffic_light` (`backtest`), `pnl_statistics` (`stats`),
  `black76_price`, `black76_delta` (`options`).

Bad input raises `RiskInputError` (a ValueError) with a message that names the culprit.
"""

from apps.risk.engine.backtest import (
    BacktestResult,
    KupiecTest,
    TrafficLight,
    backtest,
    kupiec_pof,
    traffic_light,
)
from apps.risk.engine.covariance import (
    FactorCovariance,
    covariance_from_matrix,
    ewma_covariance,
    sample_covariance,
)
from apps.risk.engine.errors import RiskInputError
from apps.risk.engine.exposure import (
    CreditExposure,
    ValueChanges,
    credit_exposure,
    simulate_value_changes,
)
from apps.risk.engine.inputs import FactorHistory, OptionPositions, Portfolio, PortfolioBuilder
from apps.risk.engine.montecarlo import monte_carlo_pnl, monte_carlo_var
from apps.risk.engine.options import black76_delta, black76_price
from apps.risk.engine.stats import PnlStatistics, pnl_statistics
from apps.risk.engine.stress import (
    CurveShock,
    FactorInfo,
    HistoricalScenario,
    HypotheticalScenario,
    StressResult,
    stress_test,
)
from apps.risk.engine.var import GroupRisk, VarResult, historical_var, parametric_var

__all__ = [
    "BacktestResult",
    "CreditExposure",
    "CurveShock",
    "FactorCovariance",
    "FactorHistory",
    "FactorInfo",
    "GroupRisk",
    "HistoricalScenario",
    "HypotheticalScenario",
    "KupiecTest",
    "OptionPositions",
    "PnlStatistics",
    "Portfolio",
    "PortfolioBuilder",
    "RiskInputError",
    "StressResult",
    "TrafficLight",
    "ValueChanges",
    "VarResult",
    "backtest",
    "black76_delta",
    "black76_price",
    "covariance_from_matrix",
    "credit_exposure",
    "ewma_covariance",
    "historical_var",
    "kupiec_pof",
    "monte_carlo_pnl",
    "monte_carlo_var",
    "parametric_var",
    "pnl_statistics",
    "sample_covariance",
    "simulate_value_changes",
    "stress_test",
    "traffic_light",
]
