# shellcheck shell=sh
# The resource disk as the agent finds it: the disk behind the VMBus device of IDE port 1
# (ResourceDisk.MountPoint says nothing on cloud-init images, where it is mounted at /mnt).
echo "@@ resource-disk"
for d in /sys/bus/vmbus/devices/*; do
  id=; [ -r "$d/device_id" ] && read -r id < "$d/device_id"
  [ "$id" = "{00000000-0001-8899-0000-000000000000}" ] || continue
  for b in "$d"/host*/target*/*/block/*; do [ -e "$b" ] && printf '%s\n' "${b##*/}"; done
done
echo "@@ lsblk"
devices=$(lsblk -b -n -P -o NAME,KNAME,TYPE,FSTYPE,MOUNTPOINT)
[ -n "$devices" ] && printf '%s\n' "$devices"
# The mount table and the mounts the extension freezes, in ONE awk (no fork per mount, no
# `read` loop: dash reads a byte per system call): the table as the "mounts" section, then a
# "candidates" section of kname, fstype and mount point, tab-separated, from that one lsblk and
# the table. Like the extension: lsblk's FSTYPE, else the mount table's (lsblk has none without
# udev). A mount line cannot hold "@@ candidates": the table writes a space as \040.
out=$(exec awk '
  function val(k,   s) {
    if (!match($0, k "=\"[^\"]*\"")) return ""
    s = substr($0, RSTART + length(k) + 2, RLENGTH - length(k) - 3)
    gsub(/\\x20/, " ", s)  # lsblk writes a space as \x20
    return s
  }
  BEGIN { print "@@ mounts" }
  FILENAME == "/proc/self/mounts" { print; if (!($2 in table)) table[$2] = $3; next }
  { m = val("MOUNTPOINT"); if (m == "") next; n++; k[n] = val("KNAME"); f[n] = val("FSTYPE"); mp[n] = m }
  END {
    print "@@ candidates"
    for (i = 1; i <= n; i++) {
      t = f[i]; if (t == "" && (mp[i] in table)) t = table[mp[i]]
      if (t ~ /^(ext3|ext4|xfs|btrfs)$/) printf "%s\t%s\t%s\n", k[i], t, mp[i]
    }
  }' /proc/self/mounts - <<EOF
$devices
EOF
)
printf '%s\n' "$out"
candidates=${out##*"@@ candidates"}; candidates=${candidates#"$BCDR_NL"}
[ -n "$candidates" ] || return 0  # probes are shell functions (core/observe.py)
# Every mount answers statfs within 5 s: one stat for all; a mount after one that hangs is
# checked on its own (5 s each), so one hung mount does not mark the others.
tab='	'  # a literal tab: no fork for printf
set --
ifs=$IFS; IFS=$BCDR_NL; set -f
for c in $candidates; do set -- "$@" "${c##*"$tab"}"; done
IFS=$ifs; set +f
answered=$(exec timeout 5 stat -f -c %n -- "$@" 2>/dev/null); hung=$?
IFS=$BCDR_NL; set -f
for c in $candidates; do
  IFS=$ifs; set +f
  kname=${c%%"$tab"*}; mnt=${c##*"$tab"}; fstype=${c#*"$tab"}; fstype=${fstype%%"$tab"*}
  printf '@@ dev %s\n' "$kname"
  case "$BCDR_NL$answered$BCDR_NL" in
    *"$BCDR_NL$mnt$BCDR_NL"*) echo "responds: yes" ;;
    *) if [ "$hung" = 124 ] && timeout 5 stat -f -c %T "$mnt" >/dev/null 2>&1; then
         echo "responds: yes"; else echo "responds: no"; fi ;;
  esac
  case "$fstype" in ext*)
    dumpe2fs -h "/dev/$kname" 2>/dev/null  # the parser keeps the lines it reads (no grep)
    if [ -r "/sys/fs/ext4/$kname/errors_count" ]; then
      read -r n < "/sys/fs/ext4/$kname/errors_count"; echo "errors_count: $n"
    fi
  esac
  IFS=$BCDR_NL; set -f
done
IFS=$ifs; set +f
