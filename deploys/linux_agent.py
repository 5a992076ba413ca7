"""Linux guest agent remediation: waagent.conf, auto-restart, service, package.

pyinfra inventories/lab.py deploys/linux_agent.py          # fix
pyinfra inventories/lab.py deploys/linux_agent.py --dry    # preview
pyinfra inventories/lab.py deploys/linux_agent.py --data bcdrfix_agent_restart=true
"""

from bcdrfix.controls import apply_controls

# Order matters: the config is written before the service is (re)started.
apply_controls(
    [
        "linux.waagent_conf",
        "linux.agent_auto_restart",
        "linux.agent_service",
        "linux.agent_restart",
        "linux.agent_package",
    ]
)
