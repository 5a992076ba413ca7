# shellcheck shell=sh
# The observation's preamble (core/observe.py builds the script: variables, this, the probes).
# BCDR_SECTION, BCDR_END, BCDR_FILE and BCDR_FILES are the markers the controller reads (set by
# build_script from core/observe.py's constants).
export LC_ALL=C
# shellcheck disable=SC2034  # read by the probe wrapper build_script adds
BCDR_IFS=$IFS  # each probe starts with these (build_script)
BCDR_NL='
'
BCDR_HAS_SYSTEMD=0
[ -d /run/systemd/system ] && BCDR_HAS_SYSTEMD=1
# One `systemctl show` for every unit and property the probes read (bcdr_show, bcdr_get).
BCDR_SHOW_PROPS='-p Id -p LoadState -p ActiveState -p SubState -p UnitFileState -p Restart
 -p RestartUSec -p MainPID -p FragmentPath -p DropInPaths -p NRestarts -p Environment
 -p EnvironmentFiles'
BCDR_SHOW_UNITS='walinuxagent.service waagent.service systemd-networkd.service NetworkManager.service'
case " $BCDR_SHOW_UNITS " in
  *" ${BCDR_UNIT_OVERRIDE:-} "*) ;;
  *) BCDR_SHOW_UNITS="$BCDR_UNIT_OVERRIDE $BCDR_SHOW_UNITS" ;;
esac
BCDR_SHOW=
BCDR_SYSTEMCTL=0
command -v systemctl >/dev/null 2>&1 && BCDR_SYSTEMCTL=1
if [ "$BCDR_SYSTEMCTL" = 1 ]; then
  # shellcheck disable=SC2086  # word splitting of the property and unit lists is intended
  BCDR_SHOW=$(exec systemctl show $BCDR_SHOW_PROPS -- $BCDR_SHOW_UNITS 2>/dev/null)
fi
# BCDR_SHOW cut once into its blocks (one per unit, in order, blank-line separated): BCDR_B1...
# for the first BCDR_BLOCKS units (fewer when the blocks do not add up). Every bcdr_get reads
# one block instead of cutting the whole output again.
bcdr_r="$BCDR_SHOW$BCDR_NL$BCDR_NL"; BCDR_BLOCKS=0
for bcdr_u in $BCDR_SHOW_UNITS; do
  case "$bcdr_r" in *"$BCDR_NL$BCDR_NL"*) ;; *) break ;; esac
  BCDR_BLOCKS=$((BCDR_BLOCKS + 1))
  eval "BCDR_B$BCDR_BLOCKS=\${bcdr_r%%\"\$BCDR_NL\$BCDR_NL\"*}"
  bcdr_r=${bcdr_r#*"$BCDR_NL$BCDR_NL"}
done
# bcdr_block UNIT: that unit's lines of BCDR_SHOW in bcdr_b; for a unit without its block (not
# asked, or the blocks did not add up) or an empty one, that unit's own `systemctl show`.
bcdr_block() {
  bcdr_b=; bcdr_i=0
  for bcdr_u in $BCDR_SHOW_UNITS; do
    bcdr_i=$((bcdr_i + 1))
    [ "$bcdr_u" = "$1" ] || continue
    [ "$bcdr_i" -le "$BCDR_BLOCKS" ] && eval "bcdr_b=\$BCDR_B$bcdr_i"
    break
  done
  if [ "$BCDR_SYSTEMCTL" = 1 ] && [ -z "$bcdr_b" ]; then
    # shellcheck disable=SC2086
    bcdr_b=$(exec systemctl show $BCDR_SHOW_PROPS -- "$1" 2>/dev/null)
  fi
}
# bcdr_show UNIT [PROPERTY...]: the unit's Key=Value lines (only these properties), no forks.
bcdr_show() {
  bcdr_block "$1"; shift
  bcdr_ifs=$IFS; IFS=$BCDR_NL; set -f
  for bcdr_l in $bcdr_b; do
    [ $# -eq 0 ] && { printf '%s\n' "$bcdr_l"; continue; }
    for bcdr_p; do case "$bcdr_l" in "$bcdr_p="*) printf '%s\n' "$bcdr_l"; break ;; esac; done
  done
  IFS=$bcdr_ifs; set +f
}
# bcdr_get UNIT PROPERTY: its value in BCDR_V (empty when unknown), no forks.
bcdr_get() {
  bcdr_block "$1"; BCDR_V=
  case "$BCDR_NL$bcdr_b" in
    *"$BCDR_NL$2="*)
      BCDR_V=$BCDR_NL$bcdr_b; BCDR_V=${BCDR_V#*"$BCDR_NL$2="}; BCDR_V=${BCDR_V%%"$BCDR_NL"*} ;;
  esac
}
BCDR_UNIT=${BCDR_UNIT_OVERRIDE:-}
if [ -z "$BCDR_UNIT" ] && [ "$BCDR_HAS_SYSTEMD" = 1 ]; then
  for u in walinuxagent.service waagent.service; do
    bcdr_get "$u" LoadState
    if [ "$BCDR_V" = loaded ]; then bcdr_get "$u" Id; BCDR_UNIT=$BCDR_V; break; fi
  done
fi
# bcdr_procs: in BCDR_PROCS, "/proc/PID/cmdline:LINE" for every line of a command line that
# names the agent, NULs between the arguments turned into spaces (command substitution drops
# NULs): one grep over /proc for every probe that reads it (agent_processes, agent_version).
# Left out: the processes running this script (in BCDR_OBSERVER), whose command line is its text,
# which names the agent's options: this shell, its subshells, sudo and sudo's monitor (use_pty),
# each known by a line holding the section marker.
BCDR_PROCS_READ=0
bcdr_procs() {
  [ "$BCDR_PROCS_READ" = 1 ] && return
  BCDR_PROCS_READ=1; BCDR_OBSERVER=; bcdr_all=$(grep -a -F -e waagent -e WALinuxAgent \
    -e "$BCDR_SECTION" /proc/[0-9]*/cmdline 2>/dev/null | tr '\0' ' ')
  bcdr_ifs=$IFS; IFS=$BCDR_NL; set -f
  for bcdr_l in $bcdr_all; do
    case "$bcdr_l" in *"$BCDR_SECTION"*)
      bcdr_l=${bcdr_l#/proc/}; bcdr_l=${bcdr_l%%/*}
      case " $BCDR_OBSERVER " in *" $bcdr_l "*) ;; *) BCDR_OBSERVER="$BCDR_OBSERVER $bcdr_l" ;; esac
    esac
  done
  BCDR_PROCS=
  for bcdr_l in $bcdr_all; do
    bcdr_p=${bcdr_l#/proc/}; bcdr_p=${bcdr_p%%/*}
    case "$BCDR_OBSERVER " in *" $bcdr_p "*) ;; *) BCDR_PROCS="$BCDR_PROCS$bcdr_l$BCDR_NL" ;; esac
  done
  IFS=$bcdr_ifs; set +f; BCDR_PROCS=${BCDR_PROCS%"$BCDR_NL"}; BCDR_OBSERVER=${BCDR_OBSERVER# }
}
# bcdr_file PATH: "missing", or a line "$BCDR_FILE PATH" that the controller replaces with
# the file as the observation's ONE tar read it at the end (bcdr_files, no process per file):
# "file MODE OWNER GROUP SIZE" and the content in base64, "toolarge SIZE LIMIT", or "notread
# REASON". Without tar (or for a path with a newline), the file's own stat, head and base64 now.
BCDR_FILE_LIST=
BCDR_TAR=0
command -v tar >/dev/null 2>&1 && BCDR_TAR=1
bcdr_file() {
  if [ ! -f "$1" ]; then printf 'missing\n'; return; fi
  case "$BCDR_TAR$1" in
    0*|*"$BCDR_NL"*) bcdr_file_now "$1"; return ;;
  esac
  printf '%s%s\n' "$BCDR_FILE" "$1"
  case "$BCDR_NL$BCDR_FILE_LIST" in
    *"$BCDR_NL$1$BCDR_NL"*) ;;
    *) BCDR_FILE_LIST="$BCDR_FILE_LIST$1$BCDR_NL" ;;
  esac
}
# bcdr_files: the files of every bcdr_file, in one tar through one head (at most the limit per
# file, plus tar's headers and its last record) and one base64, as the "$BCDR_FILES" section.
bcdr_files() {
  [ -n "$BCDR_FILE_LIST" ] || return 0
  bcdr_m=${BCDR_MAX_FILE_BYTES:-1048576}
  printf '%s%s\nlimit %s\n' "$BCDR_SECTION" "$BCDR_FILES" "$bcdr_m"
  bcdr_ifs=$IFS; IFS=$BCDR_NL; set -f
  # shellcheck disable=SC2086  # one word per line: the paths
  set -- $BCDR_FILE_LIST
  IFS=$bcdr_ifs; set +f
  tar -c -h -P -f - -- "$@" 2>/dev/null | head -c $(($# * (bcdr_m + 2048) + 10240)) | base64 -w 0
  printf '\n%s%s\n' "$BCDR_END" "$BCDR_FILES"
}
# bcdr_file_now PATH: "file MODE OWNER GROUP SIZE" and the content in base64 (one stat, one head,
# one base64), or "toolarge SIZE LIMIT".
bcdr_file_now() {
  bcdr_f=$1
  # shellcheck disable=SC2046  # the four words of stat
  set -- $(stat -L -c '%s %a %U %G' "$bcdr_f")
  if [ "${1:-0}" -gt "${BCDR_MAX_FILE_BYTES:-1048576}" ]; then
    printf 'toolarge %s %s\n' "$1" "${BCDR_MAX_FILE_BYTES:-1048576}"
    return
  fi
  printf 'file %s %s %s %s\n' "$2" "$3" "$4" "$1"
  head -c "${BCDR_MAX_FILE_BYTES:-1048576}" < "$bcdr_f" | base64 -w 0; echo  # one line
}
