"""The ``bcdrfix`` command. Each feature adds its sub-commands from its own module."""

from __future__ import annotations

import sys

import click

from bcdrfix.core.settings import SettingsError


class BcdrfixError(click.ClickException):
    """A one-line error for the user (exit status 2)."""

    exit_code = 2


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="bcdrfix")
def main() -> None:
    """Fix and audit what makes Azure Backup and Azure Site Recovery fail inside VMs.

    \b
    Examples:
      bcdrfix explain 151099                          # what a code means, what fixes it
      bcdrfix audit inventories/mine.py --report audit.html   # read-only fleet baseline
      bcdrfix fix inventories/mine.py --code ExtensionFailedVssWriterInBadState --limit sql-07
      bcdrfix demo                                    # local lab: audit -> fix -> audit
      bcdrfix lab up --hosts 4                        # boot local test hosts with broken agents
    """


def run() -> None:
    try:
        main(standalone_mode=True)
    except SettingsError as exc:
        click.echo(f"bcdrfix: error: {exc}", err=True)
        sys.exit(2)


# Sub-command modules register themselves on ``main``.
from bcdrfix import cli_audit as _audit_cli  # noqa: E402,F401
from bcdrfix import cli_codes as _codes_cli  # noqa: E402,F401
from bcdrfix import demo as _demo  # noqa: E402,F401
from bcdrfix.lab import cli as _lab_cli  # noqa: E402,F401
