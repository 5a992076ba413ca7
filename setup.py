"""Build configuration that pyproject.toml cannot express: ``templates/`` ships in the wheel.

The repository keeps its templates in the top-level ``templates/`` folder (one copy in git).
Mapping that folder to the package ``bcdrfix.templates`` makes setuptools copy it into the wheel
(and serve it in editable installs), so ``importlib.resources`` and ``jinja2.PackageLoader``
find the templates wherever bcdrfix is installed. Everything else is in pyproject.toml.
"""

from setuptools import find_packages, setup

DATA = ["*.yaml", "*.json", "*.sh", "*.ps1", "*.j2"]

setup(
    packages=[*find_packages("src"), "bcdrfix.templates"],
    package_dir={"": "src", "bcdrfix.templates": "templates"},
    package_data={"*": DATA, "bcdrfix.windows": ["scripts/*.ps1"]},
)
