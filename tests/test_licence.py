"""bcdrfix is MIT-licensed, and every runtime dependency's licence allows that use (issue 13).

Read from each installed distribution's metadata (``License-Expression``, else ``License``, else
the trove classifiers), following the dependency tree from bcdrfix's own requirements for this
platform. Optional extras are not runtime dependencies: ``ansible-core`` (GPL-3.0) is only ever
run as a separate program, never imported, and a test below keeps it that way.
"""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, metadata, requires
from pathlib import Path

from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[1]

# Permissive licences (MIT, BSD, Apache, PSF, ISC, Zope), plus two weak copyleft ones whose terms
# a project that imports the unmodified library meets: MPL-2.0 (certifi; file-level) and
# LGPL-2.1 (paramiko, through pyinfra; used as a library, never copied or modified). GPL is refused.
ALLOWED = re.compile(
    r"^(MIT|MIT License|MIT-0|BSD|BSD License|BSD-2-Clause|BSD-3-Clause|Apache-2\.0|"
    r"Apache Software License|PSF-2\.0|Python Software Foundation License|ISC|ZPL-2\.1|"
    r"MPL-2\.0|Mozilla Public License 2\.0 \(MPL 2\.0\)|LGPL-2\.1|LGPL-2\.1-or-later|"
    r"Unlicense|0BSD|Zlib)$"
)


def licences_of(name: str) -> list[str]:
    meta = metadata(name)
    if meta.get("License-Expression"):
        return [p.strip("() ") for p in re.split(r"\s+(?:OR|AND)\s+", meta["License-Expression"])]
    classifiers = [
        c.rsplit(" :: ", 1)[-1]
        for c in meta.get_all("Classifier") or []
        if c.startswith("License :: OSI Approved")
    ]
    if classifiers:
        return classifiers
    return [(meta.get("License") or "").strip()]


def runtime_dependencies() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    todo = ["bcdrfix"]
    while todo:
        for text in requires(todo.pop()) or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue  # an extra, or another platform's dependency
            name = requirement.name.lower()
            if name in found:
                continue
            try:
                found[name] = licences_of(name)
            except PackageNotFoundError:
                found[name] = ["(not installed)"]
            todo.append(name)
    return found


def test_bcdrfix_declares_mit_and_ships_the_licence():
    meta = metadata("bcdrfix")
    assert meta["License-Expression"] == "MIT"
    assert (REPO_ROOT / "LICENSE").read_text().startswith("MIT License")


def test_every_runtime_dependency_allows_use_in_mit_software():
    dependencies = runtime_dependencies()
    assert {"pyinfra", "jinja2", "click", "rich", "pypsrp"} <= set(dependencies)
    refused = {
        name: licences
        for name, licences in dependencies.items()
        if not any(ALLOWED.match(licence) for licence in licences)
    }
    assert refused == {}


def test_the_gpl_ansible_core_is_never_imported():
    sources = (REPO_ROOT / "src" / "bcdrfix").rglob("*.py")
    offenders = [
        str(path)
        for path in sources
        if re.search(r"^\s*(import|from)\s+ansible\b", path.read_text(), re.M)
    ]
    assert offenders == []
