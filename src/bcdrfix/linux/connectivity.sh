# shellcheck shell=sh
# TCP connects to $BCDR_ENDPOINTS and to the agent's proxy, with the proxy settings it found.
# Writes nothing on the host: no temporary file; proxy credentials are masked before printing.
bcdr_connect() {
  # shellcheck disable=SC2016  # $0 and $1 expand in the inner bash
  timeout "${BCDR_CONNECT_TIMEOUT:-3}" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>&1
}
bcdr_proxy_candidates() {
  pid=$(systemctl show -p MainPID --value "$BCDR_UNIT" 2>/dev/null)
  echo "@@ environ"
  [ "${pid:-0}" -gt 0 ] && tr '\0' '\n' < "/proc/$pid/environ" | grep -i -E '^(https?|no)_proxy='
  echo "@@ unit"
  [ -n "$BCDR_UNIT" ] && systemctl show -p Environment -p EnvironmentFiles "$BCDR_UNIT"
  echo "@@ envfiles"
  for f in $(systemctl show -p EnvironmentFiles --value "$BCDR_UNIT" 2>/dev/null | sed 's/ (ignore_errors=[a-z]*)//g'); do
    [ -r "${f#-}" ] && grep -i -E '^[[:space:]]*(export[[:space:]]+)?(https?|no)_proxy=' "${f#-}"
  done
}
# user:password@ in a proxy URL becomes ***@ before anything leaves the host.
candidates=$(bcdr_proxy_candidates 2>/dev/null \
  | sed -E 's#(proxy=["'\'']?([A-Za-z][A-Za-z0-9+.-]*://)?)[^/@[:space:]"'\'']*@#\1***@#gI')
printf '%s\n' "$candidates"
proxies=$( { printf '%s\n' "$candidates" | grep -i -E '(https?_proxy)=' | sed -E 's/.*https?_proxy=["'\'']?//I; s#^[a-zA-Z]+://##; s#^.*@##; s#[/"'\'' ].*$##'
  grep -E '^HttpProxy\.(Host|Port)[[:space:]]*=' "${BCDR_WAAGENT_CONF:-/etc/waagent.conf}" 2>/dev/null | sed 's/#.*//; s/"//g; s/[[:space:]]//g' | awk -F= '$1=="HttpProxy.Host"{h=$2} $1=="HttpProxy.Port"{p=$2} END{if(h!="" && p!="") print h":"p}'
} | sort -u)
echo "@@ results"
# Each connect prints one short line (a single write, atomic on a pipe); no temporary files.
for ep in $BCDR_ENDPOINTS $proxies; do
  case "$ep" in *:*) ;; *) ep="$ep:80" ;; esac
  ( out=$(bcdr_connect "${ep%:*}" "${ep##*:}"); rc=$?
    printf '%s %s %s\n' "$ep" "$rc" "$(printf %s "$out" | tr '\n' ' ' | cut -c1-200)" ) &
done
wait
