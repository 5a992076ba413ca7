"""The ``bcdrfix`` command group; each command group lives in its own module, added here."""

from __future__ import annotations

import sys

import click

from bcdrfix.cli import audit, demo, diagnose, explain, fix, inventory, report, settings
from bcdrfix.core.exit import freeze_at_exit
from bcdrfix.core.settings import SettingsError
from bcdrfix.lab import cli as lab_cli
from bcdrfix.reports.terminal import printable


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="bcdrfix")
def main() -> None:
    """Fix and audit what makes Azure Backup and Azure Site Recovery fail inside VMs.

    \b
    Examples:
      bcdrfix explain 151099                          # what a code means, what fixes it
      bcdrfix audit inventories/mine.py --report audit.html   # read-only fleet baseline
      bcdrfix fix inventories/mine.py --code ExtensionFailedVssWriterInBadState --limit sql-07
      bcdrfix diagnose inventories/mine.py            # each VM's last backup error, from the guest
      bcdrfix fix inventories/mine.py --from-guest-status   # fix each VM by its own error
      bcdrfix demo                                    # local lab: audit -> fix -> audit
      bcdrfix lab up --hosts 4                        # boot local test hosts with broken agents

    \b
    Every command: exit status 0 all right, 1 findings (something waits for you), 2 not done
    (a host unreachable or failed, or bad input); --json prints JSON only on stdout; -q drops
    progress and tables; -v adds detail; NO_COLOR=1 turns colour off.
    """


def run() -> None:
    freeze_at_exit()
    try:
        main(standalone_mode=True)
    except SettingsError as exc:
        click.echo(f"bcdrfix: error: {printable(str(exc))}", err=True)
        sys.exit(2)


for command in (
    audit.audit_command,
    report.report_group,
    inventory.inventory_group,
    explain.explain,
    explain.codes,
    settings.settings_command,
    fix.fix,
    diagnose.diagnose_command,
    demo.demo,
    lab_cli.lab_group,
):
    main.add_command(command)
