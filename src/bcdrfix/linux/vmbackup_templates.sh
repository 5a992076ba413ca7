# shellcheck shell=sh
for f in /var/lib/waagent/Microsoft.Azure.RecoveryServices.VMSnapshotLinux-*/main/tempPlugin/vmbackup.conf; do
  [ -f "$f" ] && { printf '@@ %s\n' "$f"; bcdr_file "$f"; }
done
