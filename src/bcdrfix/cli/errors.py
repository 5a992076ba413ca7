"""The one error type of the command line: one line for the user, exit status 2."""

from __future__ import annotations

import click


class BcdrfixError(click.ClickException):
    """A one-line error for the user (exit status 2)."""

    exit_code = 2
