# bcdrfix probe guest_status: what the backup (and Site Recovery) extensions last reported.
# Reads only: per extension the NEWEST <seq>.status of all its version folders (at most
# BCDR_GS_MAX+1 bytes), the agent's HandlerState/HandlerStatus next to it (4 KiB each) and the
# last 16 KiB of the extension's log; from the agent's newest goal state (history/*/ExtensionsConfig.xml
# or the older ExtensionsConfig.<n>.xml) only the extension's <Plugin ...> attributes (4 KiB).
# Names and contents travel base64-encoded.
# (BCDR_GS_ROOT: a root folder for the unit tests; unset on hosts)
BCDR_GS_MAX=131072
bcdr_b64() { printf '%s' "$1" | base64 -w 0; echo; }
goal=""; goal_m=0
for f in "${BCDR_GS_ROOT:-}"/var/lib/waagent/history/*/ExtensionsConfig.xml \
         "${BCDR_GS_ROOT:-}"/var/lib/waagent/ExtensionsConfig.*.xml; do
  [ -f "$f" ] || continue
  m=$(stat -c %Y "$f") || continue
  if [ -z "$goal" ] || [ "$m" -gt "$goal_m" ]; then goal=$f; goal_m=$m; fi
done
# the backup extension, and every Site Recovery extension type the agent unpacked
names=Microsoft.Azure.RecoveryServices.VMSnapshotLinux
for d in "${BCDR_GS_ROOT:-}"/var/lib/waagent/Microsoft.Azure.RecoveryServices.SiteRecovery.*-[0-9]*; do
  [ -d "$d" ] || continue
  n=${d##*/}; n=${n%-*}
  case "$n" in *[!A-Za-z0-9._]*) continue ;; esac
  case " $names " in *" $n "*) ;; *) names="$names $n" ;; esac
done
for ext in $names; do
  newest=""; newest_seq=0; newest_m=0; dirs=0; lastdir=""
  for d in "${BCDR_GS_ROOT:-}"/var/lib/waagent/"$ext"-[0-9]*; do
    [ -d "$d" ] || continue
    dirs=$((dirs + 1)); lastdir=$d
    for f in "$d"/status/[0-9]*.status; do
      [ -f "$f" ] || continue
      b=${f##*/}; case "${b%.status}" in ''|*[!0-9]*) continue ;; esac
      seq=${b%.status}; m=$(stat -c %Y "$f") || continue
      # newest by time; on a tie (same second) the higher sequence number
      if [ -z "$newest" ] || [ "$m" -gt "$newest_m" ] ||
         { [ "$m" -eq "$newest_m" ] && [ "$seq" -gt "$newest_seq" ]; }; then
        newest=$f; newest_seq=$seq; newest_m=$m
      fi
    done
  done
  plugin=""
  [ -n "$goal" ] && plugin=$(grep -o "<Plugin name=\"$ext\"[^>]*" "$goal" | head -n 1 |
                             tr ' ' '\n' | grep -E '^(version|state)=' | head -c 4096)
  [ "$dirs" -gt 0 ] || [ -n "$plugin" ] || continue
  echo "@@ ext $ext"
  [ -n "$goal" ] && { printf 'goal_state='; bcdr_b64 "$plugin"; }
  d=${newest%/status/*}; [ -n "$newest" ] || d=$lastdir
  [ -n "$d" ] || { echo "dirs=0"; continue; }
  printf 'dirs=%s\ndir=' "$dirs"; bcdr_b64 "${d##*/}"
  for name in HandlerState HandlerStatus; do  # regular files only: a FIFO would block
    printf '%s=' "$name"
    [ -f "$d/config/$name" ] && head -c 4096 "$d/config/$name" | base64 -w 0
    echo
  done
  if [ -n "$newest" ]; then
    printf 'status_name='; bcdr_b64 "${newest##*/}"
    # shellcheck disable=SC2046  # one stat: size and mtime
    set -- $(stat -c '%s %Y' "$newest")
    printf 'status_size=%s\nstatus_mtime=%s\n' "$1" "$2"
    printf 'status='; head -c $((BCDR_GS_MAX + 1)) "$newest" | base64 -w 0; echo
  fi
  log=${BCDR_GS_ROOT:-}/var/log/azure/$ext/extension.log
  if [ -f "$log" ]; then
    printf 'log_size=%s\nlog_tail=' "$(stat -c %s "$log")"
    tail -c 16384 "$log" | base64 -w 0; echo
  fi
done
true
