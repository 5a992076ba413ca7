"""The ``bcdrfix`` command group; each command group lives in its own module, added here."""

from __future__ import annotations

import importlib
import sys

import click

from bcdrfix.core.exit import freeze_at_exit
from bcdrfix.core.settings import SettingsError
from bcdrfix.reports.terminal import printable

# Command name -> "module:attribute" of its click command. A command's module (and what only it
# needs: the fix engine, the catalog's explanations, the lab) is imported when that command runs,
# as click's documentation shows for lazily loaded subcommands: an audit does not pay for them.
COMMANDS = {
    "audit": "bcdrfix.cli.audit:audit_command",
    "report": "bcdrfix.cli.report:report_group",
    "inventory": "bcdrfix.cli.inventory:inventory_group",
    "explain": "bcdrfix.cli.explain:explain",
    "codes": "bcdrfix.cli.explain:codes",
    "settings": "bcdrfix.cli.settings:settings_command",
    "fix": "bcdrfix.cli.fix:fix",
    "diagnose": "bcdrfix.cli.diagnose:diagnose_command",
    "demo": "bcdrfix.cli.demo:demo",
    "lab": "bcdrfix.lab.cli:lab_group",
}


class LazyGroup(click.Group):
    """A click group whose commands (``COMMANDS``) are imported when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute = COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attribute)
            if command.name != cmd_name:  # a typo in COMMANDS must not pass silently
                raise RuntimeError(f"{COMMANDS[cmd_name]} is {command.name!r}, not {cmd_name!r}")
            self.add_command(command)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
