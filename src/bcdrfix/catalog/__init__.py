"""The error-code catalog: what an Azure Backup / Site Recovery error means and what fixes it.

``model`` (entries, causes, steps, lookup), ``load`` (the packaged ``catalog.yaml``, validated
against its schema and against the control registry passed in), ``explain`` (plain data).
The code->control map lives here: ``Catalog.codes_for_control`` and ``Entry.control_ids``.
"""

from bcdrfix.catalog.explain import entry_as_dict, is_disruptive, step_as_dict
from bcdrfix.catalog.load import catalog_text, load_catalog, load_catalog_file, parse_catalog
from bcdrfix.catalog.model import (
    PLACEHOLDERS,
    PLATFORMS,
    Catalog,
    CatalogError,
    Cause,
    CodeNotFound,
    ControlPlaneStep,
    Entry,
    Match,
    Source,
    fill_placeholders,
    normalise,
)

__all__ = [
    "PLACEHOLDERS",
    "PLATFORMS",
    "Catalog",
    "CatalogError",
    "Cause",
    "CodeNotFound",
    "ControlPlaneStep",
    "Entry",
    "Match",
    "Source",
    "catalog_text",
    "entry_as_dict",
    "fill_placeholders",
    "is_disruptive",
    "load_catalog",
    "load_catalog_file",
    "normalise",
    "parse_catalog",
    "step_as_dict",
]
