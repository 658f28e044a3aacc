#!/usr/bin/env bash
# The soak test of oidc-actix, in one command: the conformance example under a mix of valid,
# expired, forged (bad signature, unknown kid, alg: none) and anonymous requests at full speed,
# every answer judged, memory and provider requests watched; once with fixed keys ("steady"),
# once while the provider keeps rotating its keys ("rotation").
#
#   tests/load/soak.sh                      # both modes, 5 minutes of load each (~13 min in all)
#   tests/load/soak.sh --quick              # both modes, 1 minute each (~4 min)
#   tests/load/soak.sh --mode rotation --duration 600
#   tests/load/soak.sh --help               # every option (tests/load/soak.py's)
#
# It builds the release examples conformance, mock_idp and soak_client, installs python3 from
# Debian if it is missing (as root), and runs tests/load/soak.py, which writes
# target/soak/<timestamp>/{results.json,report.md} (target/soak/latest points there), prints the
# report and exits 0 when every verdict holds, 1 when one fails, 2 when the run could not be
# made. The verdicts (no 5xx, no wrong answer, coverage, memory flat, provider requests bounded,
# key rotation in time) are defined in tests/load/soak.py and tests/load/soak_client.rs.
# Everything listens on 127.0.0.1; the load saturates the machine's cores for --duration seconds
# per mode.
set -euo pipefail
cd "$(dirname "$0")/../.."

step() { printf '== %s\n' "$*" >&2; }

if ! command -v python3 >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        step "installing python3 (Debian)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null
    else
        echo "python3 is missing: install it (Debian/Ubuntu: sudo apt-get install python3)" >&2
        exit 2
    fi
fi

for arg in "$@"; do
    case "$arg" in
        -h | --help) exec python3 -B tests/load/soak.py --help ;;
    esac
done

step "building the release examples conformance, mock_idp and soak_client"
cargo build --release --quiet --example conformance --example mock_idp --example soak_client

step "running the soak test"
exec python3 -B tests/load/soak.py "$@"
