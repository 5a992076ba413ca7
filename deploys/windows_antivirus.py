"""Antivirus: Microsoft Defender excludes the two VMSnapshot plugin folders.

pyinfra inventories/windows.py deploys/windows_antivirus.py
"""

from bcdrfix.controls import apply_controls

apply_controls(["windows.defender_exclusions"])
