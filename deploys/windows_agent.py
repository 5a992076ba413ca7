"""Windows guest agent: services, restart on request, version and .NET (report), DHCP (report).

pyinfra inventories/windows.py deploys/windows_agent.py
pyinfra inventories/windows.py deploys/windows_agent.py --data bcdrfix_agent_restart=true
"""

from bcdrfix.controls import apply_controls

apply_controls(
    [
        "windows.agent_services",
        "windows.agent_restart",
        "windows.agent_version",
        "windows.dotnet_version",
        "windows.dhcp",
    ]
)
