#!/usr/bin/env bash
# System packages and services the test suite needs. Idempotent; run as root.
# - SSH test hosts in network namespaces: openssh-server (sshd), openssh-client,
#   rsync, iproute2.
# - wrk, the HTTP load generator (serving benchmarks and tests).
# - A real PostgreSQL server for the state store tests (Debian's `postgresql`):
#   a running cluster and a login role named after the user who runs the tests
#   (SKYHOP_TEST_USER, default: the caller), with CREATEDB and pg_signal_backend
#   (a DROP DATABASE ... WITH (FORCE) must end an autovacuum worker that is
#   visiting the test database, or the drop is refused), reached over the
#   Unix socket with peer authentication (no password anywhere). Each test then
#   creates and drops its own database (tests/state/conftest.py).
# - Debian's chromium: the dashboard's browser tests drive /usr/bin/chromium headless through
#   Playwright (tests/e2e/test_e2e_dashboard.py); no browser download of Playwright's own.
# Without root (a developer's laptop) it only reports: those tests skip with a reason.
set -euo pipefail
need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# wrk: the load generator of the serve load-balancer benchmark and end-to-end serve tests.
command -v wrk >/dev/null 2>&1 || need+=(wrk)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v pg_ctlcluster >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    if [ ${#need[@]} -ne 0 ]; then
        echo "setup_system.sh: missing ${need[*]}; install them (as root, apt-get) to run the SSH host, PostgreSQL and browser tests." >&2
    fi
    exit 0
fi
if [ ${#need[@]} -ne 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    echo "setup_system.sh: installed ${need[*]}" >&2
fi

# PostgreSQL: the newest installed version's cluster "main" (created by the
# package, or here when the package was installed without one), started.
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
    pg_createcluster "$version" main >/dev/null
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" && $4 == "online"' | grep -q .; then
    pg_ctlcluster "$version" main start
fi
role=${SKYHOP_TEST_USER:-$(id -un)}
# The role name is quoted as an SQL identifier by PostgreSQL itself (format %I).
runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -v role="$role" -d postgres <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('GRANT pg_signal_backend TO %I', :'role') \gexec
SQL
