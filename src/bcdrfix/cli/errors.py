"""The one error type of the command line: one line for the user, exit status 2."""

from __future__ import annotations

import click

from bcdrfix.reports.terminal import printable


class BcdrfixError(click.ClickException):
    """A one-line error for the user (exit status 2: bad input, or nothing could be done).

    The message often quotes untrusted input (a pasted code, a host name, an inventory value):
    control characters in it are shown as ``?``, never sent to the terminal raw.
    """

    exit_code = 2

    def format_message(self) -> str:
        return printable(self.message)
