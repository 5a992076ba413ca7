# shellcheck shell=sh
echo "@@ route"; ip -o route show default
echo "@@ addr"; ip -o -4 addr show
echo "@@ link"; ip -o link show
for f in /etc/netplan/*.yaml /etc/netplan/*.yml /run/netplan/*.yaml /run/netplan/*.yml; do
  [ -f "$f" ] && { printf '@@ file netplan %s\n' "$f"; bcdr_file "$f"; }
done
echo "@@ networkd-state"
echo "active=$(systemctl is-active systemd-networkd 2>/dev/null)"
echo "enabled=$(systemctl is-enabled systemd-networkd 2>/dev/null)"
for d in /etc/systemd/network /run/systemd/network /usr/lib/systemd/network /lib/systemd/network; do
  [ -L "$d" ] && continue
  for f in "$d"/*.network; do [ -f "$f" ] && { printf '@@ file networkd %s\n' "$f"; bcdr_file "$f"; }; done
done
echo "@@ nm-state"
echo "active=$(systemctl is-active NetworkManager 2>/dev/null)"
if command -v nmcli >/dev/null 2>&1 && [ "$(systemctl is-active NetworkManager 2>/dev/null)" = active ]; then
  echo "@@ nm-connections"
  nmcli -t -f NAME,UUID,TYPE,DEVICE,FILENAME connection show --active
  echo "@@ nm-methods"
  for u in $(nmcli -t -f UUID connection show --active); do
    printf '%s %s\n' "$u" "$(nmcli -t -f ipv4.method connection show "$u" | sed 's/^ipv4.method://')"
  done
fi
for f in /etc/sysconfig/network-scripts/ifcfg-* /etc/sysconfig/network/ifcfg-*; do
  case "$f" in *~|*.bak|*.orig|*.rpmsave|*.rpmnew|*ifcfg-lo) continue ;; esac
  [ -f "$f" ] && { printf '@@ file ifcfg %s\n' "$f"; bcdr_file "$f"; }
done
for f in /etc/network/interfaces /etc/network/interfaces.d/*; do
  [ -f "$f" ] && { printf '@@ file ifupdown %s\n' "$f"; bcdr_file "$f"; }
done
