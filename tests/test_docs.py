"""The README's configuration tables name exactly the variables the code reads: settings.py's and
docker-compose.yml's, so that a variable added (or dropped) shows up here."""

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# Read by a library rather than by our code: numpy's BLAS (see the README's row).
READ_BY_LIBRARIES = {"OPENBLAS_NUM_THREADS"}


def _readme_variables() -> set[str]:
    """The variables in the first column of the README's configuration tables."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def _settings_variables() -> set[str]:
    source = (ROOT / "qenergyz" / "settings.py").read_text()
    names = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]+)"', source))
    names |= set(re.findall(r'_throttle_rate\(\s*"([A-Z][A-Z0-9_]+)"', source))
    names |= set(re.findall(r'"([A-Z][A-Z0-9_]+)" in env\b', source))
    return names


def _compose_variables() -> set[str]:
    source = (ROOT / "docker-compose.yml").read_text()
    return set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]+)", source))


def test_docs_readme_configuration_tables_match_the_code() -> None:
    documented = _readme_variables()
    read = _settings_variables() | _compose_variables()
    assert sorted(read - documented) == []  # read by the code, missing from the README
    assert sorted(documented - read - READ_BY_LIBRARIES) == []  # documented, read by nothing


def test_docs_readme_configuration_tables_hold_the_pool_metrics_and_rates() -> None:
    assert {
        "DB_POOL_MIN_SIZE",
        "DB_POOL_MAX_SIZE",
        "DB_POOL_TIMEOUT",
        "METRICS_TOKEN",
        "API_THROTTLE_USER",
        "API_THROTTLE_ANON",
        "API_THROTTLE_BULK",
        "API_THROTTLE_RISK_RUN",
        "QZ_SITE_ADDRESS",
        "MQTT_USERNAME",
        "MQTT_PASSWORD",
    } <= _readme_variables()


def test_docs_architecture_map_is_linked_from_readme() -> None:
    assert "(docs/architecture.md)" in (ROOT / "README.md").read_text()
    assert (ROOT / "docs" / "architecture.md").is_file()


def test_docs_architecture_describes_every_import_linter_contract() -> None:
    contracts = (ROOT / "pyproject.toml").read_text().count("[[tool.importlinter.contracts]]")
    text = (ROOT / "docs" / "architecture.md").read_text()
    rules = text.split("## Dependency rules", 1)[1].split("\n## ", 1)[0]
    described = re.findall(r"^\d+\. \*\*(layers|forbidden|independence)\*\*", rules, re.M)
    assert len(described) == contracts
