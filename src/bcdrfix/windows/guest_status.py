"""Windows: the last result the backup extension (VMSnapshot) reported inside the guest.

A section of the ONE Windows observation (``bcdrfix.windows.facts``): per extension folder
``C:\\Packages\\Plugins\\<name>\\<version>\\Status\\<seq>.status`` it sends the newest status
file of all versions (bounded read, base64) and the last 16 KiB of the newest log under
``C:\\WindowsAzure\\Logs\\Plugins\\<name>\\``. The status file has the agents' handler-status
shape; it is parsed by ``bcdrfix.core.handler_status`` like the Linux one.

The Windows extension is closed source: the samples in ``tests/diagnose/fixtures/windows-*``
are hand-written in the documented handler-status shape, not captured from a VM.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from bcdrfix.core.handler_status import clean_text, log_findings, parse_status_document, unreadable
from bcdrfix.windows.facts import SECTIONS

BACKUP_EXTENSION = "Microsoft.Azure.RecoveryServices.VMSnapshot"
SITE_RECOVERY_PREFIX = "Microsoft.Azure.RecoveryServices.SiteRecovery"  # every type found
PROBE = "guest_status"
MAX_BYTES = 131072

SECTIONS[PROBE] = r"""
Invoke-BcdrfixSection 'guest_status' {
    $found = [ordered]@{}
    $plugins = Join-Path $env:SystemDrive 'Packages\Plugins'
    $names = @('Microsoft.Azure.RecoveryServices.VMSnapshot') + @(Get-ChildItem -LiteralPath $plugins -Directory -Filter 'Microsoft.Azure.RecoveryServices.SiteRecovery*' -ErrorAction SilentlyContinue | ForEach-Object { [string]$_.Name })
    foreach ($ext in $names) {
        $root = Join-Path $env:SystemDrive (Join-Path 'Packages\Plugins' $ext)
        if (-not (Test-Path -LiteralPath $root)) { continue }
        $versions = @(Get-ChildItem -LiteralPath $root -Directory -ErrorAction SilentlyContinue)
        $newest = @($versions | ForEach-Object {
                Get-ChildItem -LiteralPath (Join-Path $_.FullName 'Status') -Filter '*.status' -File -ErrorAction SilentlyContinue
            } | Where-Object { $_.BaseName -match '^\d+$' } | Sort-Object LastWriteTimeUtc -Descending | Select-Object -First 1)
        $entry = [ordered]@{ folders = $versions.Count; version = $null }
        if ($versions.Count -gt 0) { $entry.version = [string]($versions | Sort-Object LastWriteTimeUtc -Descending | Select-Object -First 1).Name }
        if ($newest.Count -eq 1) {
            $file = $newest[0]
            $entry.version = [string]$file.Directory.Parent.Name
            $entry.status_name = [string]$file.Name
            $entry.status_size = [long]$file.Length
            $entry.status_mtime = [string]$file.LastWriteTimeUtc.ToString('o')
            $stream = [System.IO.File]::Open($file.FullName, 'Open', 'Read', 'ReadWrite')
            try {
                $buffer = New-Object byte[] ([Math]::Min($file.Length, 131073))
                $read = $stream.Read($buffer, 0, $buffer.Length)
                $entry.status = [System.Convert]::ToBase64String($buffer, 0, $read)
            }
            finally { $stream.Dispose() }
        }
        $logRoot = Join-Path $env:SystemDrive (Join-Path 'WindowsAzure\Logs\Plugins' $ext)
        $log = @(Get-ChildItem -LiteralPath $logRoot -Filter '*.log' -File -Recurse -ErrorAction SilentlyContinue |
                Sort-Object LastWriteTimeUtc -Descending | Select-Object -First 1)
        if ($log.Count -eq 1) {
            $stream = [System.IO.File]::Open($log[0].FullName, 'Open', 'Read', 'ReadWrite')
            try {
                $take = [Math]::Min($stream.Length, 16384)
                [void]$stream.Seek(-$take, 'End')
                $buffer = New-Object byte[] $take
                $read = $stream.Read($buffer, 0, $buffer.Length)
                $entry.log_size = [long]$stream.Length
                $entry.log_tail = [System.Convert]::ToBase64String($buffer, 0, $read)
            }
            finally { $stream.Dispose() }
        }
        $found[$ext] = $entry
    }
    $found
}
"""


def _b64(value: Any) -> bytes:
    return base64.b64decode(str(value or ""), validate=True)


def parse_section(section: Any) -> dict[str, dict]:
    """The ``guest_status`` section of the Windows observation, as the Linux probe's result."""
    if not isinstance(section, dict):
        return {}
    if "error" in section and len(section) == 1:
        return {
            BACKUP_EXTENSION: unreadable(f"the guest status section failed: {section['error']}")
        }
    found = {}
    for name, entry in section.items():
        if not isinstance(entry, dict):
            continue
        try:
            base: dict[str, Any] = {
                "version": clean_text(entry.get("version") or "", 60) or None,
                "folders": entry.get("folders") if isinstance(entry.get("folders"), int) else None,
                "agent": {},
            }
            if entry.get("status") is None:
                result = {"state": "no-status", **base}
            else:
                size = entry.get("status_size")
                parsed = parse_status_document(
                    _b64(entry["status"]), size if isinstance(size, int) else None
                )
                result = {
                    **parsed,
                    **base,
                    "file": clean_text(entry.get("status_name") or "", 80),
                    "file_mtime": clean_text(entry.get("status_mtime") or "", 40),
                }
            if entry.get("log_tail"):
                result["log"] = log_findings(_b64(entry["log_tail"]))
        except (ValueError, binascii.Error, TypeError) as exc:
            result = unreadable(f"guest status could not be decoded ({type(exc).__name__})")
        found[clean_text(name, 100)] = result
    return found
