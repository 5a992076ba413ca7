"""Text that leaves bcdrfix: secrets masked, untrusted names made safe for a terminal.

``redact`` masks the credentials of proxy URLs (``http://user:password@proxy:3128`` and the
scheme-less ``https_proxy=user:password@proxy:3128``) wherever bcdrfix prints or writes text:
reports, ``--json``, logs, errors. ``printable`` replaces control characters (escape sequences
that set a terminal's title or clear its screen) in host names and messages shown on a terminal.
"""

from __future__ import annotations

import re
from typing import Any

# user:password@ after a URL scheme, or right after "proxy=" / "proxy: " (scheme-less proxies).
_CREDENTIALS = re.compile(
    r"(?P<lead>(?:[A-Za-z][A-Za-z0-9+.\-]{0,31}://)|(?:proxy\s{0,8}[=:]\s{0,8}[\"']?))"
    r"(?P<userinfo>[^\s/@\"']+)@",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def redact(text: str) -> str:
    """``text`` with the user/password part of proxy URLs replaced by ``***``.

    Linear on untrusted text (a merged report, a host's file): no ``@``, no credentials; the
    scheme and the spaces around ``proxy=`` are bounded, so no position is rescanned at length.
    """
    if "@" not in text:
        return text
    return _CREDENTIALS.sub(lambda m: f"{m.group('lead')}***@", text)


def redact_data(value: Any) -> Any:
    """``redact`` applied to every string inside JSON-like data (keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    return value


def printable(text: str) -> str:
    """``text`` without control characters (each becomes ``?``), secrets redacted."""
    return _CONTROL.sub("?", redact(str(text)))
