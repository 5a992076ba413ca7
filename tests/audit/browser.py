"""Headless Chromium for report tests: a screenshot (decoded here) and the rendered DOM.

Chromium is started isolated (fresh profile, no background networking, no QUIC, no sync, no
component updates) and is only ever given file:// pages.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def available() -> bool:
    """True when chromium is installed; in CI (CI set) always True, so a missing one fails."""
    return Path(CHROMIUM).exists() or bool(os.environ.get("CI"))


def _run(page: Path, *args: str) -> subprocess.CompletedProcess:
    url = page.resolve().as_uri()
    assert url.startswith("file://")
    with tempfile.TemporaryDirectory(prefix="bcdrfix-chromium-") as profile:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 1600) -> Path:
    proc = _run(page, f"--window-size={width},{height}", f"--screenshot={png}")
    assert png.exists(), proc.stderr
    return png


def dump_dom(page: Path) -> str:
    proc = _run(page, "--dump-dom")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit, non-interlaced PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and interlace == 0 and color in (2, 6), header
    channels = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    return (
        width,
        height,
        [bytes(r) for r in rows]
        if channels == 3
        else [bytes(b for i, b in enumerate(r) if i % 4 != 3) for r in rows],
    )


def colour_stats(path: Path, step: int = 4) -> dict:
    """Share of non-white pixels and whether the report's red and green appear (sampled)."""
    width, height, rows = read_png(path)
    total = non_white = red = green = 0
    for y in range(0, height, step):
        row = rows[y]
        for x in range(0, width, step):
            r, g, b = row[3 * x : 3 * x + 3]
            total += 1
            if r < 235 or g < 235 or b < 235:
                non_white += 1
            if r > 180 and g < 80 and b < 80:
                red += 1
            if g > 100 and r < 60 and b < 90:
                green += 1
    return {"width": width, "height": height, "ink": non_white / total, "red": red, "green": green}
