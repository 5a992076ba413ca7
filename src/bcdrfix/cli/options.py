"""Options several commands share: an inventory and the slice of it to work on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

SHARD_HELP = "Only slice K of N (deterministic: sorted host names, every N-th), e.g. 2/4."
LIMIT_HELP = "Only these hosts or groups (pyinfra --limit rules; repeat or separate with commas)."


def inventory_slice(command: Callable[..., Any]) -> Callable[..., Any]:
    """``INVENTORY [--limit HOSTS]... [--shard K/N]`` (parameters ``inventory, limits, shard``)."""
    command = click.option("--shard", metavar="K/N", help=SHARD_HELP)(command)
    command = click.option("--limit", "limits", multiple=True, metavar="HOSTS", help=LIMIT_HELP)(
        command
    )
    return click.argument("inventory", metavar="INVENTORY")(command)
