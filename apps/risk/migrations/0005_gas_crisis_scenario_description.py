"""The seeded "Gas crisis 2021–22" scenario says what its window moves: the demo curves follow
Henry Hub and Brent (EIA spot prices), not European hub prices. A description a risk manager
has since edited is left as it is."""

from django.db import migrations

NAME = "Gas crisis 2021–22"
OLD = "European gas and power from August 2021 to the peak of August 2022."
NEW = (
    "August 2021 to the peak of August 2022, as the curve history holds it: in the demo data, "
    "Henry Hub's and Brent's moves (EIA spot prices), which the demo's European curves follow."
)


def describe(apps, schema_editor):
    scenario = apps.get_model("risk", "StressScenario")
    scenario.objects.filter(name=NAME, description=OLD).update(description=NEW)


def undescribe(apps, schema_editor):
    scenario = apps.get_model("risk", "StressScenario")
    scenario.objects.filter(name=NAME, description=NEW).update(description=OLD)


class Migration(migrations.Migration):
    dependencies = [("risk", "0004_figure_marginal_var")]

    operations = [migrations.RunPython(describe, undescribe)]
