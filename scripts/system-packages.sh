#!/usr/bin/env bash
# Debian packages the tests use for real: chromium (headless check of the HTML report),
# openssh-server + openssh-client (the ssh transport against sshd on loopback) and adb (the adb
# transport against an emulated phone) and postgresql (the shared result store). Installed only when missing; needs root (CI runs as root).
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v adb >/dev/null 2>&1 || missing+=(adb)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "note: not root, cannot install ${missing[*]}; the tests that need them will be skipped" >&2
    exit 0
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
