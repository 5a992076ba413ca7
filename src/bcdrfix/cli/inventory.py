"""``bcdrfix inventory hosts``: what an inventory slice would contact."""

from __future__ import annotations

import click

from bcdrfix.cli.errors import BcdrfixError
from bcdrfix.cli.options import inventory_slice
from bcdrfix.cli.output import echo_json, printable, quiet_option
from bcdrfix.inventory.load import InventoryError, host_address, load_inventory


@click.group("inventory")
def inventory_group() -> None:
    """Inspect inventories the way bcdrfix and pyinfra load them (nothing is contacted)."""


@inventory_group.command("hosts")
@inventory_slice
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["names", "limit", "json"]),
    default="names",
    show_default=True,
    help="names: one per line; limit: pyinfra --limit arguments; json.",
)
@quiet_option("Accepted like everywhere; the output is already bare.")
def inventory_hosts(
    inventory: str, limits: tuple[str, ...], shard: str | None, fmt: str, quiet: bool
) -> None:
    """List the hosts of an inventory slice, e.g. to run a pyinfra deploy on one shard.

    \b
    Examples:
      bcdrfix inventory hosts inventories/azure.py --shard 1/3
      pyinfra inventories/azure.py bcdrfix.deploys.linux_agent -y \\
          $(bcdrfix inventory hosts inventories/azure.py --shard 1/3 --format limit)
    """

    try:
        loaded = load_inventory(inventory, limit=limits, shard=shard)
    except InventoryError as exc:
        raise BcdrfixError(str(exc)) from None
    if fmt == "names":
        for host in loaded.selected:
            click.echo(printable(host.name))
    elif fmt == "limit":
        if not loaded.selected:
            raise BcdrfixError("this slice has no host to contact")
        click.echo(" ".join(printable(f"--limit={host.name}") for host in loaded.selected))
    else:
        rows = [
            {
                "name": h.name,
                "groups": sorted(set(h.groups)),
                "address": host_address(h)[1],
                "contact": True,
            }
            for h in loaded.selected
        ]
        rows += [
            {
                "name": m.name,
                "groups": sorted(set(m.groups)),
                "address": None,
                "contact": False,
                "reason": m.reason,
                "kind": m.kind,
            }
            for m in loaded.not_contacted
        ]
        echo_json(sorted(rows, key=lambda r: r["name"]))
