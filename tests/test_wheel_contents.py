"""The wheel a release builds (sdist, then wheel from it) carries everything bcdrfix loads at run
time: templates (from the top-level templates/ folder), the catalog, schemas, the licence."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_wheel_carries_templates_data_and_licence(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(tmp_path), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("bcdrfix-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in (REPO / "templates").glob("*.j2"):
        assert f"bcdrfix/templates/{template.name}" in names
    for data in (REPO / "src").rglob("*"):
        if data.suffix in (".yaml", ".json", ".sh", ".ps1") and "egg-info" not in str(data):
            assert data.relative_to(REPO / "src").as_posix() in names, data
    assert "bcdrfix/deploys/__init__.py" in names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert not any(name.startswith(("tests/", "deploys/", "build/")) for name in names)
