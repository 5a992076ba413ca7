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

# --- bounded waits (one bad host never stalls the fleet) -------------------------------------
# pyinfra global argument: seconds any single command (operation or fact) may run on a host
# before that host fails alone. Package upgrades are the slowest commands bcdrfix runs.
_timeout = 600

# Seconds between SSH keepalives, and seconds after which unacknowledged data means the
# connection is dead: a host whose network is cut fails within their sum (40 s by default).
bcdrfix_ssh_keepalive = 10
bcdrfix_ssh_dead_after = 30

# Per-host lock held for a run's changes: a second run waits this long, then that host fails
# with "another bcdrfix run holds host X since ...". The lock ends with the run, its connection,
# or after bcdrfix_lock_ttl seconds.
bcdrfix_lock_wait = 60
bcdrfix_lock_ttl = 1800

# Largest file the observation reads (bytes); larger files are reported, never edited.
bcdrfix_max_file_bytes = 1048576

# Fail a host's operation (and so the pyinfra run) when a control needs approval, is reported
# only, or leaves work by hand: for CI gates. Off: these are reported and the run succeeds.
bcdrfix_fail_on_findings = False
