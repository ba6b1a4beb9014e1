"""Seeds the stress scenarios a desk expects on day one (managed in the admin afterwards).

Historical windows: the 2021–22 European gas crisis (the curve history must reach back that far
for it to apply; a run reports the window as outside the history otherwise) and, inside the
demo history (EIA-derived curves from August 2024), the gas spike of winter 2024–25.
Hypothetical shocks: parallel moves per commodity and tenor-shaped moves of every curve.

Idempotent: a scenario of the same name is left as it is.
"""

from datetime import date

from django.db import migrations

SCENARIOS = [
    {
        "name": "Gas crisis 2021–22",
        "kind": "historical",
        "start_date": date(2021, 8, 2),
        "end_date": date(2022, 8, 26),
        "description": "European gas and power from August 2021 to the peak of August 2022.",
    },
    {
        "name": "Winter spike 2024–25 (demo history)",
        "kind": "historical",
        "start_date": date(2024, 12, 2),
        "end_date": date(2025, 3, 10),
        "description": "Henry Hub's rise into the cold of early 2025, inside the demo history.",
    },
    {
        "name": "Gas +30 %",
        "kind": "hypothetical",
        "shocks": [{"commodity": "natural-gas", "move": 0.30}],
        "description": "Every natural gas curve 30 % higher, all tenors.",
    },
    {
        "name": "Gas −30 %",
        "kind": "hypothetical",
        "shocks": [{"commodity": "natural-gas", "move": -0.30}],
        "description": "Every natural gas curve 30 % lower, all tenors.",
    },
    {
        "name": "Power front-month spike",
        "kind": "hypothetical",
        "shocks": [{"commodity": "power", "shape": [[1, 0.40], [3, 0.25], [6, 0.10], [12, 0.0]]}],
        "description": "Power +40 % in the front month, fading to nothing at a year.",
    },
    {
        "name": "Oil −20 %",
        "kind": "hypothetical",
        "shocks": [{"commodity": "crude-oil", "move": -0.20}],
        "description": "Every crude curve 20 % lower.",
    },
    {
        "name": "Emissions +40 %",
        "kind": "hypothetical",
        "shocks": [{"commodity": "emissions", "move": 0.40}],
        "description": "EUAs 40 % higher.",
    },
    {
        "name": "All curves +10 %",
        "kind": "hypothetical",
        "shocks": [{"move": 0.10}],
        "description": "Every commodity curve 10 % higher (FX unchanged).",
    },
    {
        "name": "Curves steepen",
        "kind": "hypothetical",
        "shocks": [{"shape": [[1, -0.05], [12, 0.05], [24, 0.10]]}],
        "description": "Front months 5 % lower, a year out 5 % higher, two years out 10 %.",
    },
]


def seed(apps, schema_editor):
    StressScenario = apps.get_model("risk", "StressScenario")
    for spec in SCENARIOS:
        values = dict(spec)
        StressScenario.objects.get_or_create(name=values.pop("name"), defaults=values)


def unseed(apps, schema_editor):
    names = [spec["name"] for spec in SCENARIOS]
    apps.get_model("risk", "StressScenario").objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [("risk", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
