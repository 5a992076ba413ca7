"""Desired state for every host. Each name is validated by bcdrfix.core.settings before a run.

Override per group (group_data/<group>.py), per host (host data in the inventory) or per run
(``pyinfra ... --data bcdrfix_allow_disruptive=true``).
"""

# Fixes that can hurt production (restarting services other than the agent, reinstalling MSDTC,
# re-registering msiexec, resetting ACLs, unmount/fsck) run only when this is true. Otherwise the
# run reports them as "needs approval" with exactly what would happen.
bcdrfix_allow_disruptive = False

# Control ids this host must not check or fix, e.g. ("linux.agent_package",).
bcdrfix_skip_controls = ()
