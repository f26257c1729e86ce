#!/bin/bash
# Stops this instance once it has been idle for IDLE_MINUTES: no Session Manager session (its
# ssm-session-worker processes), no SSH login (VS Code Remote-SSH's included) and a 1-minute load
# average under 0.1. Run every minute by provision-idle-stop.timer; the instance stops (not
# terminates) on shutdown, as provision launched it.
set -u
idle_minutes="${IDLE_MINUTES:-30}"
state="${IDLE_STATE:-/var/lib/provision-idle-stop/last-active}"
loadavg="${IDLE_LOADAVG:-/proc/loadavg}"
mkdir -p "$(dirname "$state")"
now="$(date +%s)"

busy=""
if pgrep -f ssm-session-worker >/dev/null 2>&1; then
  busy="a Session Manager session"
elif [ -n "$(who)" ] || pgrep -f 'sshd: [^ ]+@' >/dev/null 2>&1; then
  busy="an SSH login"
elif awk -v load="$(cut -d' ' -f1 "$loadavg")" 'BEGIN { exit !(load >= 0.1) }'; then
  busy="the CPU"
fi

if [ -n "$busy" ] || [ ! -s "$state" ]; then
  echo "$now" > "$state"
  exit 0
fi
last="$(cat "$state")"
case "$last" in
  '' | *[!0-9]*) echo "$now" > "$state"; exit 0 ;;
esac
if [ $((now - last)) -ge $((idle_minutes * 60)) ]; then
  logger -t provision-idle-stop "idle for $idle_minutes minutes: stopping the instance"
  systemctl poweroff
fi
