#!/usr/bin/env bash
# Install the real services the test suite starts for itself (redis-server, PostgreSQL) and the small tools
# it drives (script from util-linux, procps; journalctl and systemd's own journal writer, which make a real
# journal file where no journald runs), and Prometheus, its Pushgateway and promtool (the serve, push and
# shipped-rules tests), from Debian's packages, when they are missing.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need+=(postgresql)
fi
command -v pg_isready >/dev/null 2>&1 || need+=(postgresql-client)
command -v script >/dev/null 2>&1 || need+=(bsdutils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v journalctl >/dev/null 2>&1 || need+=(systemd)
[ -x /lib/systemd/systemd-journal-remote ] || need+=(systemd-journal-remote)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || need+=(prometheus)  # promtool is in it
command -v prometheus-pushgateway >/dev/null 2>&1 || need+=(prometheus-pushgateway)
# bench/bench_serve_probe.py's anchor
command -v prometheus-blackbox-exporter >/dev/null 2>&1 || need+=(prometheus-blackbox-exporter)
# `scripts/system-deps.sh --bench`: also ripgrep, an anchor bench/bench_logs.py compares against.
if [ "${1:-}" = "--bench" ]; then
  command -v rg >/dev/null 2>&1 || need+=(ripgrep)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing system packages: ${need[*]} (install them as root: apt-get install ${need[*]})" >&2; exit 3
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
