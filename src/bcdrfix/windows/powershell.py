"""PowerShell quoting: the one way data from inventory reaches a Windows host.

pyinfra's ``QuoteString`` uses POSIX rules (``shlex.quote``), which are wrong for PowerShell:
in PowerShell ``'a'"'"'b'`` is not one literal and ``$``, backticks and ``;`` mean something
else. Every value bcdrfix puts into a PowerShell script goes through :func:`quote` (or
:func:`literal`, which uses it), and scripts receive their data as variable assignments at the
top (:func:`script`), so the script bodies themselves are constants that never contain data.

PowerShell single-quoted strings are verbatim: no ``$`` expansion, no backtick escapes, and
newlines are kept. The only special characters are the single quotes, which PowerShell
recognises in four typographic forms besides ``'`` (U+2018, U+2019, U+201A, U+201B); each is
escaped by doubling it, as ``CodeGeneration.EscapeSingleQuotedStringContent`` does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pyinfra.api import StringCommand

SINGLE_QUOTES = "'\u2018\u2019\u201a\u201b"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class PowerShellQuoteError(ValueError):
    """A value cannot be carried into PowerShell as a literal."""


def quote(value: str) -> str:
    """Return ``value`` as a PowerShell single-quoted string literal.

    >>> quote("it's $HOME; `whoami`")
    "'it''s $HOME; `whoami`'"
    """
    if not isinstance(value, str):
        raise PowerShellQuoteError(f"expected a string to quote, got {type(value).__name__}")
    if "\0" in value:
        raise PowerShellQuoteError(f"{value!r}: NUL characters cannot be carried in PowerShell")
    if _LONE_SURROGATE.search(value):
        raise PowerShellQuoteError(f"{value!r}: not valid Unicode text (lone surrogate)")
    return "'" + "".join(ch * 2 if ch in SINGLE_QUOTES else ch for ch in value) + "'"


def literal(value: Any) -> str:
    """A PowerShell literal for a Python value: str, bool, int, None, list/tuple, mapping.

    Lists become ``@(...)`` arrays, mappings ``[ordered]@{...}`` hashtables; nested values are
    converted the same way.
    """
    if isinstance(value, bool):
        return "$true" if value else "$false"
    if value is None:
        return "$null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Mapping):
        items = "; ".join(f"{quote(str(k))} = {literal(v)}" for k, v in value.items())
        return f"[ordered]@{{{items}}}"
    if isinstance(value, (list, tuple)):
        elements = [literal(v) for v in value]
        # ``@(@(1, 2))`` flattens to two elements; the unary comma keeps a lone element whole.
        return f"@(,{elements[0]})" if len(elements) == 1 else "@(" + ", ".join(elements) + ")"
    raise PowerShellQuoteError(f"cannot carry a {type(value).__name__} into PowerShell")


def json_literal(data: Any) -> str:
    """``data`` as JSON inside a single-quoted literal (for ``ConvertFrom-Json``)."""
    return quote(json.dumps(data, ensure_ascii=True, sort_keys=True))


def assignments(values: Mapping[str, Any]) -> str:
    """``$Name = <literal>`` lines; variable names must be plain identifiers."""
    lines = []
    for name, value in values.items():
        if not _NAME.match(name):
            raise PowerShellQuoteError(f"{name!r} is not a valid PowerShell variable name")
        lines.append(f"${name} = {literal(value)}")
    return "\n".join(lines)


def script(body: str, values: Mapping[str, Any] | None = None, strict: bool = True) -> str:
    """A complete script: settings that make errors stop it, the data, then the constant body.

    ``strict`` makes every error terminating (``$ErrorActionPreference = 'Stop'``) so that a
    failed step fails the operation instead of printing a red line and carrying on.
    """
    parts = []
    if strict:
        parts.append("$ErrorActionPreference = 'Stop'")
        parts.append("$ProgressPreference = 'SilentlyContinue'")
    if values:
        parts.append(assignments(values))
    parts.append(body.strip("\n"))
    return "\n".join(parts)


def command(body: str, values: Mapping[str, Any] | None = None) -> StringCommand:
    """The pyinfra command for a script; the WinRM connector runs it as PowerShell as-is."""
    return StringCommand(script(body, values))


def env_name(name: str) -> str:
    if not _NAME.match(name):
        raise PowerShellQuoteError(f"{name!r} is not a valid environment variable name")
    return name


def array(values: Iterable[str]) -> str:
    return literal(list(values))


# --- bounded building blocks shared by the observation and the operations ---------------------

# A native program run with a time limit. ``& prog`` would wait forever and set $LASTEXITCODE
# (which the connector turns into the command's status); this returns the exit code and the
# output lines as data and kills the program when it overruns.
NATIVE_RUNNER = r"""
function Invoke-BcdrfixNative {
    param([string]$FilePath, [string]$Arguments, [int]$TimeoutSeconds)
    $info = New-Object System.Diagnostics.ProcessStartInfo
    $info.FileName = $FilePath
    $info.Arguments = $Arguments
    $info.UseShellExecute = $false
    $info.CreateNoWindow = $true
    $info.RedirectStandardOutput = $true
    $info.RedirectStandardError = $true
    $info.StandardOutputEncoding = [Console]::OutputEncoding
    $info.StandardErrorEncoding = [Console]::OutputEncoding
    $process = [System.Diagnostics.Process]::Start($info)
    $stdout = $process.StandardOutput.ReadToEndAsync()
    $stderr = $process.StandardError.ReadToEndAsync()
    if (-not $process.WaitForExit($TimeoutSeconds * 1000)) {
        try { $process.Kill() } catch { }
        throw ('{0} {1} did not finish within {2} s; stopped it' -f $FilePath, $Arguments, $TimeoutSeconds)
    }
    $process.WaitForExit()
    $text = $stdout.Result + "`n" + $stderr.Result
    [ordered]@{
        exit_code = [int]$process.ExitCode
        lines = @($text -split "`r?`n" | Where-Object { $_ -ne '' } | ForEach-Object { [string]$_ })
    }
}
"""

# Services by exact name (``Get-Service -Name`` treats names as wildcards), and waits that end:
# ``ServiceController.Start()``/``Stop()`` return at once, ``WaitForStatus`` with a limit bounds the
# wait, and a timeout names the service and the state it is stuck in.
SERVICE_HELPERS = r"""
Add-Type -AssemblyName System.ServiceProcess
function Get-BcdrfixService {
    param([string]$Name)
    @([System.ServiceProcess.ServiceController]::GetServices() | Where-Object { $_.ServiceName -eq $Name })[0]
}
function Wait-BcdrfixService {
    param($Service, [string]$Status, [int]$Seconds)
    try {
        $Service.WaitForStatus($Status, [TimeSpan]::FromSeconds($Seconds))
    }
    catch [System.ServiceProcess.TimeoutException] {
        $Service.Refresh()
        throw ('service {0} is still {1} after {2} s (wanted {3})' -f $Service.ServiceName, $Service.Status, $Seconds, $Status)
    }
}
function Start-BcdrfixService {
    param($Service, [int]$Seconds)
    $Service.Refresh()
    if ($Service.Status -eq 'Running') { return }
    if ($Service.Status -ne 'StartPending') { $Service.Start() }
    Wait-BcdrfixService $Service 'Running' $Seconds
}
function Stop-BcdrfixService {
    param($Service, [int]$Seconds)
    $Service.Refresh()
    if ($Service.Status -eq 'Stopped') { return }
    if ($Service.Status -ne 'StopPending') { $Service.Stop() }
    Wait-BcdrfixService $Service 'Stopped' $Seconds
}
function Get-BcdrfixRunningDependents {
    # Every running service that depends on $Service, directly or not, nearest first.
    param($Service)
    $seen = @{}
    $order = New-Object System.Collections.Generic.List[string]
    $queue = New-Object System.Collections.Generic.Queue[object]
    $queue.Enqueue($Service)
    while ($queue.Count -gt 0) {
        foreach ($dependent in $queue.Dequeue().DependentServices) {
            if ($seen.ContainsKey($dependent.ServiceName)) { continue }
            $seen[$dependent.ServiceName] = $true
            if ($dependent.Status -eq 'Running') { $order.Add($dependent.ServiceName) }
            $queue.Enqueue($dependent)
        }
    }
    , $order.ToArray()
}
function ConvertTo-BcdrfixWql {
    # A WQL string literal: backslashes and single quotes escaped.
    param([string]$Text)
    "'" + $Text.Replace('\', '\\').Replace("'", "\'") + "'"
}
"""
