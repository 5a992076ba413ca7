"""Linux: the last result the backup extension (VMSnapshotLinux) reported inside the guest.

The probe (``guest_status.sh``, part of the one batched observation) reads, per extension, the
newest ``<seq>.status`` of all ``/var/lib/waagent/<name>-<version>/status/`` folders (the
extension renames older sequences to ``<seq>_status``; the agent reports the current one), the
agent's ``config/HandlerState`` and ``config/HandlerStatus`` of that version, and the tail of
``/var/log/azure/<name>/extension.log``. Reads are bounded; no interpreter is started on the host.

Parsed into ``observation["guest_status"]``: ``{extension name: status dict}`` (see
``bcdrfix.core.handler_status``); an extension the agent never unpacked is absent, or
``state: "not-installed"`` when the agent's newest goal state lists it (Azure assigned it).
Site Recovery extensions are found by their publisher prefix, whatever their type.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from bcdrfix.core.handler_status import (
    clean_text,
    log_findings,
    parse_status_document,
    unreadable,
)
from bcdrfix.core.observe import probe, split_subsections

BACKUP_EXTENSION = "Microsoft.Azure.RecoveryServices.VMSnapshotLinux"
SITE_RECOVERY_PREFIX = "Microsoft.Azure.RecoveryServices.SiteRecovery"  # every type found
SCRIPT = (Path(__file__).with_name("guest_status.sh")).read_text(encoding="utf-8")


def _b64(value: str) -> bytes:
    return base64.b64decode(value.strip(), validate=True) if value.strip() else b""


def _text(value: str, limit: int = 200) -> str:
    return clean_text(_b64(value).decode("utf-8", errors="replace"), limit)


def parse_extension(lines: list[str]) -> dict:
    """One ``@@ ext NAME`` section of the probe."""
    fields = dict(line.split("=", 1) for line in lines if "=" in line)
    try:
        folder = _text(fields.get("dir", ""))
        version = folder.rsplit("-", 1)[1] if "-" in folder else None
        agent: dict[str, Any] = {"handler_state": _text(fields.get("HandlerState", ""), 40) or None}
        raw_handler = _b64(fields.get("HandlerStatus", ""))
        if raw_handler:
            try:
                data = json.loads(raw_handler.decode("utf-8"))
            except (ValueError, UnicodeDecodeError, RecursionError):
                data = None
            if isinstance(data, dict):
                agent["handler_status"] = clean_text(data.get("status") or "", 40) or None
                agent["handler_code"] = (
                    data.get("code") if isinstance(data.get("code"), int) else None
                )
                agent["handler_message"] = clean_text(data.get("message") or "", 300) or None
        base: dict[str, Any] = {
            "version": version,
            "folders": int(fields.get("dirs", "0") or 0),
            "agent": agent,
        }
        if "goal_state" in fields:  # the agent's newest goal state: is the extension assigned?
            attributes = dict(
                item.split("=", 1)
                for item in _text(fields["goal_state"], 300).split()
                if "=" in item
            )
            agent["goal_state"] = {
                "listed": bool(attributes),
                **{
                    k: v.strip('"')[:60] for k, v in attributes.items() if k in ("version", "state")
                },
            }
        if base["folders"] == 0:
            result = {"state": "not-installed", **base}
        elif "status" not in fields:
            result = {"state": "no-status", **base}
        else:
            size = int(fields.get("status_size", "0") or 0)
            parsed = parse_status_document(_b64(fields["status"]), size)
            result = {
                **parsed,
                **base,
                "file": _text(fields.get("status_name", ""), 80),
                "file_mtime": int(fields.get("status_mtime", "0") or 0),
            }
        if "log_tail" in fields:
            result["log"] = log_findings(_b64(fields["log_tail"]))
        return result
    except (ValueError, binascii.Error) as exc:
        return unreadable(f"probe output could not be decoded ({type(exc).__name__})")


@probe("guest_status", SCRIPT)
def parse_guest_status(lines: list[str]) -> dict[str, dict]:
    parts = split_subsections(lines)
    found = {}
    for key, body in parts.items():
        if key.startswith("ext "):
            found[key[4:].strip()] = parse_extension(body)
    return found
