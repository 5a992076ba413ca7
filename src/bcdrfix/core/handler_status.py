"""Read what an Azure VM extension last reported in the guest: its handler status file.

Every extension handler writes ``<seq>.status`` in its ``status`` folder, a JSON list whose first
item is ``{"version", "timestampUTC", "status": {"name", "operation", "status", "code",
"formattedMessage": {"lang", "message"}, "substatus": [...]}}`` (the agent reads it and sends it
to Azure). The backup extension (VMSnapshotLinux, Azure/azure-linux-extensions VMBackup
``Utils/HandlerUtil.py`` ``do_status_report``) adds its own details:

* ``formattedMessage.message`` is itself JSON, ``{"messageStr": ..., "snapshotConsistency": ...}``;
* ``substatus[0].name`` carries the inner report as a JSON string: the same shape with
  ``vmHealthInfo.vmHealthStatusCode`` (the extension's internal error code) and ``telemetryData``
  (``{"Key": "extErrorCode", "Value": "<internal code name>"}``);
* on some VM types a terminal failure is written with top-level ``"status": "success"``: the
  inner report then carries the real result;
* failure messages end in `` StatusCode.<internal code name>,``.

Status files are untrusted input: this parser never raises on content. Anything it cannot make
sense of (too large, not UTF-8, not JSON, unexpected shape) gives ``state: "unreadable"`` with
one line saying why. Messages are returned as plain text, cut to a bounded length.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_STATUS_BYTES = 128 * 1024  # the agent itself refuses larger status files
MAX_MESSAGE = 1000
_STATUS_CODE = re.compile(r"StatusCode\.([A-Za-z_][A-Za-z0-9_]{0,80})")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

SUCCESS = "success"
FAILED = "failed"
IN_PROGRESS = "in-progress"
UNKNOWN = "unknown"


def clean_text(value: Any, limit: int = MAX_MESSAGE) -> str:
    """Plain one-paragraph text: control characters dropped, whitespace folded, length bounded."""
    text = _CONTROL.sub(" ", str(value))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _loads(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _first_status(document: Any) -> dict | None:
    item = document[0] if isinstance(document, list) and document else document
    if isinstance(item, dict) and isinstance(item.get("status"), dict):
        return item
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d{1,9}", value.strip()):
        return int(value.strip())
    return None


def unreadable(reason: str, **extra: Any) -> dict:
    return {"state": "unreadable", "problem": clean_text(reason, 300), **extra}


def parse_status_document(data: bytes, size: int | None = None) -> dict:
    """One handler status file (its bytes, at most ``MAX_STATUS_BYTES + 1``) as plain data.

    ``{"state": "reported", "operation", "status", "result", "timestamp", "code", "code_name",
    "message", "consistency"}`` or ``{"state": "unreadable", "problem": ...}``.
    """
    size = len(data) if size is None else size
    if size > MAX_STATUS_BYTES or len(data) > MAX_STATUS_BYTES:
        return unreadable(f"status file of {size} bytes is larger than {MAX_STATUS_BYTES}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return unreadable(f"status file is not UTF-8 (byte {exc.start})")
    document = _loads(text)
    if document is None:
        return unreadable("status file is not valid JSON")
    top = _first_status(document)
    if top is None:
        return unreadable("status file has no status object")
    try:
        return _interpret(top)
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
        return unreadable(f"status file has an unexpected shape ({type(exc).__name__})")


def _interpret(top: dict) -> dict:
    status = top["status"]
    inner_status: dict = {}
    substatus = status.get("substatus")
    if isinstance(substatus, list) and substatus and isinstance(substatus[0], dict):
        inner = _first_status(_loads(substatus[0].get("name")))
        if inner is not None:
            inner_status = inner["status"]

    message_obj = status.get("formattedMessage")
    raw_message = message_obj.get("message") if isinstance(message_obj, dict) else message_obj
    message = raw_message if isinstance(raw_message, str) else ""
    consistency = None
    extension_response = _loads(message)
    if isinstance(extension_response, dict) and "messageStr" in extension_response:
        message = str(extension_response.get("messageStr") or "")
        consistency = _as_int(extension_response.get("snapshotConsistency"))

    # The internal code: the name the extension put in its telemetry, then its health code,
    # then the name in the message, then the top-level code.
    code_name = None
    for item in inner_status.get("telemetryData") or ():
        if isinstance(item, dict) and item.get("Key") == "extErrorCode":
            value = str(item.get("Value") or "")
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,80}", value):
                code_name = value
    health = inner_status.get("vmHealthInfo")
    code = _as_int(health.get("vmHealthStatusCode")) if isinstance(health, dict) else None
    found = _STATUS_CODE.findall(message)
    if code_name is None and found:
        code_name = found[-1]
    if code is None:
        code = _as_int(status.get("code"))

    reported = str(inner_status.get("status") or status.get("status") or "").lower()
    top_reported = str(status.get("status") or "").lower()
    if "transitioning" in (reported, top_reported):
        result = IN_PROGRESS
    elif reported == "error" or top_reported == "error":
        result = FAILED
    elif reported in ("success", "warning"):
        result = SUCCESS
    else:
        result = UNKNOWN
    return {
        "state": "reported",
        "operation": clean_text(status.get("operation") or "", 80) or None,
        "status": clean_text(top_reported, 40) or None,
        "inner_status": clean_text(reported, 40) or None,
        "result": result,
        "timestamp": clean_text(top.get("timestampUTC") or "", 40) or None,
        "code": code,
        "code_name": code_name,
        "message": clean_text(message),
        "consistency": consistency,
    }


def log_findings(data: bytes, limit: int = 5) -> list[str]:
    """The last lines of an extension log tail that name a status code or an error."""
    text = data.decode("utf-8", errors="replace")
    lines = [
        clean_text(line, 400)
        for line in text.splitlines()
        if "StatusCode." in line or "Error" in line or "failed" in line
    ]
    return lines[-limit:]
