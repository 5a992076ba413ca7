# shellcheck shell=sh
echo "@@ now"; date +%s
echo "@@ enforce"; cat /sys/fs/selinux/enforce 2>/dev/null || echo absent
echo "@@ getenforce"; command -v getenforce >/dev/null && getenforce
if [ "$(cat /sys/fs/selinux/enforce 2>/dev/null)" = 1 ]; then
  echo "@@ agent-domain"
  pid=$(systemctl show -p MainPID --value "$BCDR_UNIT" 2>/dev/null)
  [ "${pid:-0}" -gt 0 ] && tr -d '\0' < "/proc/$pid/attr/current" && echo
  echo "@@ label"; ls -Zd /var/lib/waagent
  echo "@@ relabel"; restorecon -R -n -v /var/lib/waagent 2>&1 | head -n 200
  echo "@@ fcontext-local"; semanage fcontext -l -C 2>/dev/null | grep -i waagent
  echo "@@ permissive"; semanage permissive -l 2>/dev/null
  echo "@@ avc"
  grep -h 'avc: *denied' /var/log/audit/audit.log 2>/dev/null | grep -i waagent | tail -n 50
fi
