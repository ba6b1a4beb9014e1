"""The repository stands on its own: nothing tracked points outside it, and the demo's data are
inside it."""

import subprocess
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
# Built from parts, so that this file does not hold the string it looks for.
NEEDLE = "../" + "shared"


def _tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    return [ROOT / name.decode() for name in listed if name]


def test_repository_tracked_files_do_not_refer_to_a_folder_outside_it():
    offenders = []
    for path in _tracked_files():
        if not path.is_file():  # deleted in the work tree, not yet committed
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:  # binary
            continue
        if NEEDLE.encode() in data:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_repository_holds_the_demo_market_data_files():
    tracked = {str(path.relative_to(ROOT)) for path in _tracked_files()}
    assert {
        "data/market/README.md",
        "data/market/brent-daily.csv",
        "data/market/henry-hub-daily.csv",
        "data/market/wti-daily.csv",
    } <= tracked
    assert (ROOT / "data/market/henry-hub-daily.csv").read_text().splitlines()[-1] == (
        "2026-08-18,2.82"
    )
