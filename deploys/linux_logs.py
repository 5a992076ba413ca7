"""Collect the agent's logs for a support case into collected-logs/<host>/ (bcdrfix_logs_dir).

pyinfra inventories/lab.py deploys/linux_logs.py

The same deploy from any folder: pyinfra INVENTORY bcdrfix.deploys.linux_logs
"""

from bcdrfix.deploys import linux_logs

linux_logs()
