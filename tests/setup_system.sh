#!/usr/bin/env bash
# System packages the test suite needs (SSH test hosts in network namespaces):
# openssh-server (sshd), openssh-client, rsync, iproute2. Idempotent; run as root.
# Without root (a developer's laptop) it only reports: those tests skip with a reason.
set -euo pipefail
need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_system.sh: missing ${need[*]}; install them (as root, apt-get) to run the SSH host tests." >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "setup_system.sh: installed ${need[*]}" >&2
