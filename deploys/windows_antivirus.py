"""Antivirus: Microsoft Defender excludes the two VMSnapshot plugin folders.

pyinfra inventories/windows.py deploys/windows_antivirus.py

The same deploy from any folder: pyinfra INVENTORY bcdrfix.deploys.windows_antivirus
"""

from bcdrfix.deploys import windows_antivirus

windows_antivirus()
