"""Linux guest agent remediation: waagent.conf, auto-restart, service, package.

pyinfra inventories/lab.py deploys/linux_agent.py          # fix
pyinfra inventories/lab.py deploys/linux_agent.py --dry    # preview
pyinfra inventories/lab.py deploys/linux_agent.py --data bcdrfix_agent_restart=true

The same deploy from any folder: pyinfra INVENTORY bcdrfix.deploys.linux_agent
"""

from bcdrfix.deploys import linux_agent

linux_agent()
