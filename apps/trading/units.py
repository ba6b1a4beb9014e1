"""Unit conversion by known factors only. Pure: imports nothing from Django.

A conversion table holds the factors we know ("1 MWh = 3.412141633 MMBtu"); each is usable in
both directions and they chain (therm → MMBtu → MWh). What the table does not connect is refused
with `ConversionUnavailable`: a position must never be netted across units by a guessed factor.
Commodity-specific factors (a barrel of crude is 5.8 MMBtu) are put in the table only by the
caller that converts for that commodity.
"""

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

# Enough significant digits that a chain of a few factors and an inversion loses nothing a
# position (at most 20 digits) could show.
_PRECISION = 34


class ConversionUnavailable(ValueError):
    """No known conversion links the two units (for this commodity)."""

    def __init__(self, from_unit: str, to_unit: str, commodity: str | None = None) -> None:
        self.from_unit, self.to_unit, self.commodity = from_unit, to_unit, commodity
        scope = f" for {commodity}" if commodity else ""
        super().__init__(f"no known conversion from {from_unit} to {to_unit}{scope}")


@dataclass(frozen=True)
class ConversionTable:
    """Factors as {(from_unit, to_unit): factor}, meaning 1 from_unit = factor to_unit."""

    factors: Mapping[tuple[str, str], Decimal] = field(default_factory=dict)
    commodity: str | None = None  # only for the message of a refusal

    def __post_init__(self) -> None:
        for (source, target), factor in self.factors.items():
            if not isinstance(factor, Decimal) or factor <= 0:
                raise ValueError(f"the factor {source} -> {target} must be a positive Decimal")

    def _edges(self) -> dict[str, list[tuple[str, Decimal, bool]]]:
        """unit -> [(neighbour, factor, inverted)]; an inverted edge divides by the factor."""
        edges: dict[str, list[tuple[str, Decimal, bool]]] = {}
        for (source, target), factor in self.factors.items():
            edges.setdefault(source, []).append((target, factor, False))
            edges.setdefault(target, []).append((source, factor, True))
        return edges

    def _path(self, from_unit: str, to_unit: str) -> list[tuple[Decimal, bool]]:
        """The steps (factor, inverted) from one unit to the other, fewest first."""
        if from_unit == to_unit:
            return []
        edges = self._edges()
        # Breadth-first: the fewest steps, so a direct factor is always preferred to a chain.
        previous: dict[str, tuple[str, Decimal, bool]] = {}
        queue, seen = deque([from_unit]), {from_unit}
        while queue:
            unit = queue.popleft()
            if unit == to_unit:
                break
            for neighbour, factor, inverted in edges.get(unit, ()):
                if neighbour not in seen:
                    seen.add(neighbour)
                    previous[neighbour] = (unit, factor, inverted)
                    queue.append(neighbour)
        if to_unit not in seen:
            raise ConversionUnavailable(from_unit, to_unit, self.commodity)
        steps: list[tuple[Decimal, bool]] = []
        unit = to_unit
        while unit != from_unit:
            unit, factor, inverted = previous[unit]
            steps.append((factor, inverted))
        return steps[::-1]

    def convert(self, quantity: Decimal, from_unit: str, to_unit: str) -> Decimal:
        """`quantity` of `from_unit` expressed in `to_unit`, unrounded (the caller quantises).

        Each step multiplies or divides the quantity itself, so converting a converted quantity
        back gives the exact original (34.12141633 MMBtu is 10 MWh, not 9.999…).
        """
        path = self._path(from_unit, to_unit)
        with localcontext() as context:
            context.prec = _PRECISION
            result = quantity
            for factor, inverted in path:
                result = result / factor if inverted else result * factor
            return +result

    def factor(self, from_unit: str, to_unit: str) -> Decimal:
        """How many `to_unit` one `from_unit` is."""
        return self.convert(Decimal(1), from_unit, to_unit)


def conversion_table(
    rows: Iterable[tuple[str, str, Decimal]], *, commodity: str | None = None
) -> ConversionTable:
    """A table from (from_unit, to_unit, factor) rows."""
    return ConversionTable({(source, target): factor for source, target, factor in rows}, commodity)
