# shellcheck shell=sh
# TCP connects to $BCDR_ENDPOINTS and to the agent's proxy, with the proxy settings it found.
# Writes nothing on the host: no temporary file; proxy credentials are masked before printing.
# The unit's properties come from the preamble's one `systemctl show` (bcdr_get, bcdr_show).
bcdr_proxy_candidates() {
  bcdr_get "$BCDR_UNIT" MainPID; pid=$BCDR_V
  echo "@@ environ"
  [ "${pid:-0}" -gt 0 ] && tr '\0' '\n' < "/proc/$pid/environ" | grep -i -E '^(https?|no)_proxy='
  echo "@@ unit"
  [ -n "$BCDR_UNIT" ] && bcdr_show "$BCDR_UNIT" Environment EnvironmentFiles
  echo "@@ envfiles"
  [ -n "$BCDR_UNIT" ] || return 0
  bcdr_block "$BCDR_UNIT"; set --
  ifs=$IFS; IFS=$BCDR_NL; set -f
  # shellcheck disable=SC2154  # bcdr_b: set by the preamble's bcdr_block
  for l in $bcdr_b; do
    case "$l" in EnvironmentFiles=*) ;; *) continue ;; esac
    l=${l#EnvironmentFiles=}; l=${l%" (ignore_errors="*}; l=${l#-}
    [ -r "$l" ] && set -- "$@" "$l"
  done
  IFS=$ifs; set +f
  # one grep for every readable file
  [ $# -gt 0 ] && grep -h -i -E '^[[:space:]]*(export[[:space:]]+)?(https?|no)_proxy=' "$@"
}
# user:password@ in a proxy URL becomes ***@ before anything leaves the host.
# No "@" after another character on a line (the "@@ name" section lines do not count): nothing
# to mask, no sed (three processes).
candidates=$(bcdr_proxy_candidates 2>/dev/null)
bcdr_at="@$BCDR_NL"  # unquoted in the pattern below: a bracket expression of @ and newline
case "$candidates" in *[!$bcdr_at]@*)
  candidates=$(printf '%s\n' "$candidates" \
    | sed -E 's#(proxy=["'\'']?([A-Za-z][A-Za-z0-9+.-]*://)?)[^/@[:space:]"'\'']*@#\1***@#gI') ;;
esac
printf '%s\n' "$candidates"
# The proxies to try, in ONE awk: https?_proxy= in those lines (scheme, credentials and path
# cut off), and HttpProxy.Host:Port from waagent.conf (the last of each, comments cut off).
proxies=$(exec awk '
  FILENAME == "-" {
    low = tolower($0); if (low !~ /https?_proxy=/) next
    at = 0; rest = low
    while (match(rest, /https?_proxy=/)) { at += RSTART + RLENGTH - 1; rest = substr(rest, RSTART + RLENGTH) }
    s = substr($0, at + 1)
    sub(/^["\047]/, "", s); sub(/^[a-zA-Z]+:\/\//, "", s); sub(/^.*@/, "", s); sub(/[\/"\047 ].*$/, "", s)
    if (s != "" && !(s in seen)) { seen[s] = 1; print s }
    next
  }
  /^HttpProxy\.(Host|Port)[[:space:]]*=/ {
    l = $0; sub(/#.*/, "", l); gsub(/"/, "", l); gsub(/[[:space:]]/, "", l); split(l, f, "=")
    if (f[1] == "HttpProxy.Host") host = f[2]; else port = f[2]
  }
  END { s = host ":" port; if (host != "" && port != "" && !(s in seen)) print s }
' - "${BCDR_WAAGENT_CONF:-/etc/waagent.conf}" 2>/dev/null <<EOF
$candidates
EOF
)
echo "@@ results"
# Every endpoint at once in ONE bash (its /dev/tcp), each connect in a forked subshell printing
# one short line; `timeout` bounds the whole at the per-connect timeout (all start together) and
# kills what still waits: an endpoint without a line did not answer in time (exit 124). An
# endpoint that answers costs that one fork; one that fails is tried once more to capture bash's
# message (a second fork, on the rare path).
eps=
for ep in $BCDR_ENDPOINTS $proxies; do
  case "$ep" in *:*) ;; *) ep="$ep:80" ;; esac
  eps="$eps $ep"
done
# shellcheck disable=SC2016,SC2086  # $ep expands in the inner bash; one word per endpoint
out=$(exec timeout "${BCDR_CONNECT_TIMEOUT:-3}" bash -c '
printf -v nl "\n"
for ep; do
  ( if exec 3<>"/dev/tcp/${ep%:*}/${ep##*:}"; then printf "%s 0 \n" "$ep"; exit 0; fi
    m=$( { exec 3<>"/dev/tcp/${ep%:*}/${ep##*:}"; } 2>&1 ); rc=$?
    m=${m//$nl/ }; printf "%s %s %s\n" "$ep" "$rc" "${m:0:200}" ) 2>/dev/null &
done
wait' bash $eps 2>&1)
rc=$?
msg=$out
[ "$rc" = 124 ] && msg=
[ -n "$out" ] && printf '%s\n' "$out"
for ep in $eps; do
  case "$BCDR_NL$out" in
    *"$BCDR_NL$ep "[0-9]*|*"$BCDR_NL$ep -"[0-9]*) ;;
    *) printf '%s %s %s\n' "$ep" "$rc" "$(printf %s "$msg" | tr '\n' ' ' | cut -c1-200)" ;;
  esac
done
