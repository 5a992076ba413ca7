# shellcheck shell=sh
# read, not cat: no fork, and selinuxfs writes no newline after the 0 or 1
enforce=absent; [ -r /sys/fs/selinux/enforce ] && { read -r enforce < /sys/fs/selinux/enforce || true; }
echo "@@ enforce"; printf '%s\n' "${enforce:-absent}"
echo "@@ getenforce"; command -v getenforce >/dev/null && getenforce
if [ "$enforce" = 1 ]; then
  echo "@@ now"; date +%s  # the age of denials; not needed (nor read) when not enforcing
  echo "@@ agent-domain"
  bcdr_get "$BCDR_UNIT" MainPID; pid=$BCDR_V
  [ "${pid:-0}" -gt 0 ] && tr -d '\0' < "/proc/$pid/attr/current" && echo
  echo "@@ label"; ls -Zd /var/lib/waagent
  echo "@@ relabel"; restorecon -R -n -v /var/lib/waagent 2>&1 | head -n 200
  echo "@@ fcontext-local"; semanage fcontext -l -C 2>/dev/null | grep -i waagent
  echo "@@ permissive"; semanage permissive -l 2>/dev/null
  echo "@@ avc"
  grep -h 'avc: *denied' /var/log/audit/audit.log 2>/dev/null | grep -i waagent | tail -n 50
fi
