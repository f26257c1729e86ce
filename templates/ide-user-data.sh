#!/bin/bash
# The course IDE's set-up, written by `provision ide`: run once by cloud-init, as root, at the
# instance's first boot. Its log is /var/log/cloud-init-output.log.
set -euo pipefail
home=/home/ec2-user
sbin=/usr/local/sbin
units=/etc/systemd/system

# What the course needs: Python 3 with boto3, git (the AWS CLI v2 comes with Amazon Linux 2023).
dnf install -y --quiet python3 python3-boto3 git

# The course's working folder, as Cloud9 had it, with the lab's reader and data in it:
# ~/environment/dragons/app.py reads the lab as the course's app.py does (run it after
# `provision dragons-lab`), and dragons.json is the course's data set.
lab="$home/environment/dragons"
mkdir -p "$lab"
base64 -d <<'DATA' | gunzip > "$lab/dragons.json"
__LAB_DATA__
DATA
cat > "$lab/app.py" <<'APP'
__LAB_APP__
APP
chown -R ec2-user:ec2-user "$home/environment"

# Idle stop, like Cloud9's: stopped after __IDLE_MINUTES__ minutes with no Session Manager
# session, no SSH login and no busy CPU (0 turns it off).
idle_minutes=__IDLE_MINUTES__
if [ "$idle_minutes" -gt 0 ]; then
  mkdir -p "$sbin" "$units"
  cat > "$sbin/provision-idle-stop" <<'SCRIPT'
__IDLE_STOP_SCRIPT__
SCRIPT
  chmod 0755 "$sbin/provision-idle-stop"
  cat > "$units/provision-idle-stop.service" <<UNIT
[Unit]
Description=Stop the course IDE when it has been idle (provision ide --idle-stop)

[Service]
Type=oneshot
Environment=IDLE_MINUTES=$idle_minutes
ExecStart=$sbin/provision-idle-stop
UNIT
  cat > "$units/provision-idle-stop.timer" <<'UNIT'
[Unit]
Description=Check every minute whether the course IDE is idle

[Timer]
OnBootSec=1min
OnUnitActiveSec=1min

[Install]
WantedBy=timers.target
UNIT
  systemctl daemon-reload
  systemctl enable --now provision-idle-stop.timer
fi
