#!/usr/bin/env bash
# Sourced by scripts/test, scripts/demo and bench/run: makes sure .venv holds the pinned moto[server].
# Re-installs only when scripts/requirements-moto.txt changed since the last install.

ensure_venv() {
  local root="$1"
  local venv="$root/.venv"
  local requirements="$root/scripts/requirements-moto.txt"
  local stamp="$venv/.requirements-moto.txt"
  if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$stamp"; then
    return 0
  fi
  echo "==> creating .venv with the pinned moto[server] (one time)" >&2
  python3 -m venv "$venv" || {
    echo "error: python3 -m venv failed; install Python 3 with the venv module (Debian: apt-get install python3-venv)" >&2
    return 1
  }
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" || {
    echo "error: installing moto[server] from PyPI failed" >&2
    return 1
  }
  cp "$requirements" "$stamp"
}

# Starts moto on a free loopback port; sets MOTO_PID and MOTO_ENDPOINT. Extra environment for moto
# may be passed as NAME=VALUE arguments.
start_moto() {
  local root="$1"; shift
  local port
  port=$("$root/.venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  env "$@" "$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"${MOTO_LOG:-/dev/null}" 2>&1 &
  MOTO_PID=$!
  MOTO_ENDPOINT="http://127.0.0.1:$port"
  local tries=0
  until "$root/.venv/bin/python" -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),1)" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 300 ] || ! kill -0 "$MOTO_PID" 2>/dev/null; then
      echo "error: moto did not start on $MOTO_ENDPOINT" >&2
      return 1
    fi
    sleep 0.1
  done
}
