#!/usr/bin/env bash
# The servers the tests start themselves: PostgreSQL's server binaries (Debian's postgresql package).
# moto's S3 server comes with the Python test dependencies. Called by setup.sh; a no-op once installed.
# As root without the binaries it installs them with apt-get (no default cluster is created or
# started: the tests run their own server on a free port); otherwise it says what to install.
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${PG_BINDIR:-}" ] || command -v initdb >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing PostgreSQL server binaries (apt-get install postgresql)" >&2
  mkdir -p /etc/postgresql-common
  [ -e /etc/postgresql-common/createcluster.conf ] || echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
else
  echo "PostgreSQL server binaries not found: install Debian's postgresql package (or set PG_BINDIR);" \
       "the postgres-marked tests fail without them" >&2
fi
