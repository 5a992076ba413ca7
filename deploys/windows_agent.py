"""Windows guest agent: services, restart on request, version and .NET (report), DHCP (report).

pyinfra inventories/windows.py deploys/windows_agent.py
pyinfra inventories/windows.py deploys/windows_agent.py --data bcdrfix_agent_restart=true

The same deploy from any folder: pyinfra INVENTORY bcdrfix.deploys.windows_agent
"""

from bcdrfix.deploys import windows_agent

windows_agent()
