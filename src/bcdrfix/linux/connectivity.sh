# shellcheck shell=sh
# TCP connects to $BCDR_ENDPOINTS and to the agent's proxy, with the proxy settings it found.
# Writes nothing on the host: no temporary file (bash takes no here-document or here-string: older bash
# writes them to a temporary file); proxy credentials are masked before printing.
# Everything runs in ONE bash under ONE `timeout` at the per-connect timeout: the agent's proxy
# variables (its process environment, its unit's Environment= and EnvironmentFiles=), read by
# bash itself (no tr, grep, sed or awk; files come whole through mapfile, and a `case` picks the
# lines before a regex, which bash compiles at every use), then every endpoint at once through
# bash's /dev/tcp, each connect in a forked subshell printing one short line (the last one in
# this bash itself: no fork). `timeout` kills what still waits: an endpoint without a line did
# not answer in time (exit 124). One that fails is tried once more to capture bash's message.
# The unit's properties come from the preamble's one `systemctl show` (bcdr_get, bcdr_block).
bcdr_pid=; bcdr_b=
if [ -n "$BCDR_UNIT" ]; then
  bcdr_get "$BCDR_UNIT" MainPID; bcdr_pid=$BCDR_V  # and the unit's block in bcdr_b
fi
# shellcheck disable=SC2016,SC2086  # $... expands in bash; one word per endpoint
out=$(exec timeout "${BCDR_CONNECT_TIMEOUT:-3}" bash -c '
pid=$1 block=$2 conf=$3; shift 3
nl=$'"'"'\n'"'"'
shopt -s nocasematch  # proxy variable names as grep -i matched them
# user:password@ in a proxy URL becomes ***@ (every one on the line) before anything is printed.
mask_re="(proxy=[\"'"'"']?([a-z][a-z0-9+.-]*://)?)[^/@[:space:]\"'"'"']*@"
proxies=" "
qs="\"'"'"'"  # the two quote characters
show() {
  local l=$1 r= m
  while [[ $l =~ $mask_re ]]; do
    m=${BASH_REMATCH[0]}; r+=${l%%"$m"*}${BASH_REMATCH[1]}"***@"; l=${l#*"$m"}
  done
  l=$r$l
  printf "%s\n" "$l"
  # the proxy it names for https (after the last http(s)_proxy=): no scheme, credentials or path
  [[ $l =~ ^(.*)https?_proxy=(.*)$ ]] || return 0
  l=${BASH_REMATCH[2]}; l=${l#[$qs]}
  [[ $l =~ ^[a-z]+:// ]] && l=${l#*://}
  l=${l##*@}; l=${l%%[/ $qs]*}
  [[ -n $l && $proxies != *" $l "* ]] && proxies+="$l "
}
echo "@@ environ"
if [[ $pid =~ ^[1-9][0-9]*$ ]] && [[ -r /proc/$pid/environ ]]; then
  while IFS= read -r -d "" l; do
    case $l in http_proxy=*|https_proxy=*|no_proxy=*) show "$l" ;; esac
  done < "/proc/$pid/environ"
fi
echo "@@ unit"
files=()
IFS=$nl; set -f
for l in $block; do
  case "$l" in
    Environment=*) show "$l" ;;
    EnvironmentFiles=*)
      show "$l"; f=${l#EnvironmentFiles=}; f=${f%" (ignore_errors="*}; f=${f#-}
      [[ -f $f && -r $f ]] && files+=("$f") ;;
  esac
done
IFS=$'"'"' \t\n'"'"'; set +f
echo "@@ envfiles"
for f in "${files[@]}"; do
  mapfile -t -n 2000 lines < "$f"
  for l in "${lines[@]}"; do
    case $l in *_proxy=*) ;; *) continue ;; esac
    [[ $l =~ ^[[:space:]]*(export[[:space:]]+)?(https?|no)_proxy= ]] && show "$l"
  done
done
# HttpProxy.Host and .Port of waagent.conf (the last of each; comments, quotes and blanks cut
# off), matched with their case as the agent reads them.
shopt -u nocasematch
host= port=
if [[ -f $conf && -r $conf ]]; then
  mapfile -t -n 20000 lines < "$conf"
  for l in "${lines[@]}"; do
    case $l in HttpProxy.*) ;; *) continue ;; esac
    [[ $l =~ ^HttpProxy\.(Host|Port)[[:space:]]*= ]] || continue
    l=${l%%#*}; l=${l//\"/}; l=${l//[[:space:]]/}
    if [[ ${BASH_REMATCH[1]} == Host ]]; then host=${l#*=}; else port=${l#*=}; fi
  done
fi
[[ -n $host && -n $port && $proxies != *" $host:$port "* ]] && proxies+="$host:$port "
eps=()
for ep in "$@" $proxies; do [[ $ep == *:* ]] || ep=$ep:80; eps+=("$ep"); done
echo "@@ endpoints ${eps[*]}"
echo "@@ results"
try() {
  if { exec 3<>"/dev/tcp/${1%:*}/${1##*:}"; } 2>/dev/null; then
    exec 3>&-; printf "%s 0 \n" "$1"; return
  fi
  m=$( { exec 3<>"/dev/tcp/${1%:*}/${1##*:}"; } 2>&1 ); rc=$?
  m=${m//$nl/ }; printf "%s %s %s\n" "$1" "$rc" "${m:0:200}"
}
n=${#eps[@]}
for (( i = 0; i < n - 1; i++ )); do try "${eps[i]}" 2>/dev/null & done
(( n )) && try "${eps[n-1]}" 2>/dev/null
wait' bash "$bcdr_pid" "$bcdr_b" "${BCDR_WAAGENT_CONF:-/etc/waagent.conf}" $BCDR_ENDPOINTS 2>&1)
rc=$?
# Every endpoint without a line: killed by timeout (124), or bash could not run (its message).
case "$out" in
  *"@@ results"*)
    printf '%s\n' "$out"
    eps=${out#*"@@ endpoints "}; eps=${eps%%"$BCDR_NL"*}; msg= ;;
  *)
    printf '@@ results\n'
    eps=$BCDR_ENDPOINTS; msg=$out ;;
esac
[ "$rc" = 124 ] && msg=
msg=${msg%%"$BCDR_NL"*}
for ep in $eps; do
  case "$ep" in *:*) ;; *) ep="$ep:80" ;; esac
  case "$BCDR_NL$out" in
    *"$BCDR_NL$ep "[0-9]*|*"$BCDR_NL$ep -"[0-9]*) ;;
    *) printf '%s %s %.200s\n' "$ep" "$rc" "$msg" ;;
  esac
done
