# shellcheck shell=sh
# The resource disk as the agent finds it: the disk behind the VMBus device of IDE port 1
# (ResourceDisk.MountPoint says nothing on cloud-init images, where it is mounted at /mnt).
echo "@@ resource-disk"
for d in /sys/bus/vmbus/devices/*; do
  [ "$(cat "$d/device_id" 2>/dev/null)" = "{00000000-0001-8899-0000-000000000000}" ] || continue
  for b in "$d"/host*/target*/*/block/*; do [ -e "$b" ] && basename "$b"; done
done
echo "@@ lsblk"
lsblk -b -n -P -o NAME,KNAME,TYPE,FSTYPE,MOUNTPOINT
echo "@@ mounts"
cat /proc/self/mounts
lsblk -n -r -o KNAME,MOUNTPOINT | while read -r kname mnt; do
  [ -n "$mnt" ] || continue
  mnt=$(printf '%s' "$mnt" | sed 's/\\x20/ /g')  # lsblk -r writes a space as \x20
  # Like the extension: lsblk's FSTYPE, else the mount table's (lsblk has none without udev).
  fstype=$(lsblk -n -d -r -o FSTYPE "/dev/$kname" 2>/dev/null)
  [ -n "$fstype" ] || fstype=$(awk -v m="$mnt" '$2 == m { print $3; exit }' /proc/self/mounts)
  case "$fstype" in ext3|ext4|xfs|btrfs) ;; *) continue ;; esac
  printf '@@ dev %s\n' "$kname"
  if timeout 5 stat -f -c %T "$mnt" >/dev/null 2>&1; then echo "responds: yes"; else echo "responds: no"; fi
  case "$fstype" in ext*)
    dumpe2fs -h "/dev/$kname" 2>/dev/null | grep -E '^(Filesystem state|FS Error count|Filesystem features):'
    [ -r "/sys/fs/ext4/$kname/errors_count" ] && echo "errors_count: $(cat "/sys/fs/ext4/$kname/errors_count")"
  esac
done
