# shellcheck shell=sh
# One `ip` for the routes, addresses and links (the parser tells their lines apart).
echo "@@ ip"
ip -o -4 -batch - <<EOF
route show default
addr show
link show
EOF
# Every configuration file: a "@@ file KIND PATH" line, then its content (bcdr_file: all files of
# the observation come from ONE tar at its end, no process per file).
for f in /etc/netplan/*.yaml /etc/netplan/*.yml /run/netplan/*.yaml /run/netplan/*.yml; do
  [ -f "$f" ] && { printf '@@ file netplan %s\n' "$f"; bcdr_file "$f"; }
done
for f in /etc/sysconfig/network-scripts/ifcfg-* /etc/sysconfig/network/ifcfg-*; do
  case "$f" in *~|*.bak|*.orig|*.rpmsave|*.rpmnew|*ifcfg-lo) continue ;; esac
  [ -f "$f" ] && { printf '@@ file ifcfg %s\n' "$f"; bcdr_file "$f"; }
done
for f in /etc/network/interfaces /etc/network/interfaces.d/*; do
  [ -f "$f" ] && { printf '@@ file ifupdown %s\n' "$f"; bcdr_file "$f"; }
done
# systemd-networkd's .network files only when it runs or starts at boot: netconf reads them only
# then (a host without networkd ships a dozen unused ones). A directory that is an earlier one
# (/lib is usr/lib on merged-/usr hosts) is read once.
echo "@@ networkd-state"
bcdr_get systemd-networkd.service ActiveState; active=$BCDR_V; echo "active=$active"
bcdr_get systemd-networkd.service UnitFileState; echo "enabled=$BCDR_V"
case "$active $BCDR_V" in
  "active "*|*" enabled"|*" enabled-runtime")
    seen=
    for d in /etc/systemd/network /run/systemd/network /usr/lib/systemd/network /lib/systemd/network; do
      [ -L "$d" ] && continue
      # shellcheck disable=SC3013  # -ef: dash, bash and busybox have it (elsewhere: no match)
      for e in $seen; do [ "$d" -ef "$e" ] && continue 2; done
      seen="$seen $d"
      for f in "$d"/*.network; do [ -f "$f" ] && { printf '@@ file networkd %s\n' "$f"; bcdr_file "$f"; }; done
    done ;;
esac
echo "@@ nm-state"
bcdr_get NetworkManager.service ActiveState; echo "active=$BCDR_V"
if [ "$BCDR_V" = active ] && command -v nmcli >/dev/null 2>&1; then
  echo "@@ nm-connections"
  nmcli -t -f NAME,UUID,TYPE,DEVICE,FILENAME connection show --active
  echo "@@ nm-methods"
  for u in $(nmcli -t -f UUID connection show --active); do
    printf '%s %s\n' "$u" "$(nmcli -t -f ipv4.method connection show "$u" | sed 's/^ipv4.method://')"
  done
fi
