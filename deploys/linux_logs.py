"""Collect the agent's logs for a support case into collected-logs/<host>/ (bcdrfix_logs_dir).

pyinfra inventories/lab.py deploys/linux_logs.py
"""

from pyinfra import host

from bcdrfix.controls import load_settings
from bcdrfix.linux.logs import collect_linux_logs

collect_linux_logs(load_settings(host.data, host.name))
