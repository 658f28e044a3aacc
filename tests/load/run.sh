#!/usr/bin/env bash
# The HTTP load benchmark of oidc-actix, in one command (see BENCHMARKS.md):
#
#   tests/load/run.sh                  # full run: 5 rounds x 10 s per scenario, oidc-actix only
#   tests/load/run.sh --python         # the same with py-oidc-auth (FastAPI, Flask) beside it
#   tests/load/run.sh --quick          # smoke check: 2 rounds x 3 s
#   tests/load/run.sh --rounds 5 --duration 20
#
# It builds the release examples bench_app and mock_idp, installs wrk from Debian if it is
# missing (as root), with --python makes the virtual environment target/load-venv from
# tests/load/requirements.txt, and then runs tests/load/bench.py, which writes
# target/load/<timestamp>/{results.jsonl,report.md} (target/load/latest points there) and prints
# the report. Every other option is bench.py's: tests/load/run.sh --help lists them.
# All traffic stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../.."

python=false
for arg in "$@"; do
    case "$arg" in
        --python) python=true ;;
        -h | --help) exec python3 -B tests/load/bench.py --help ;;
    esac
done

step() { printf '== %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        step "installing wrk (Debian)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
        echo "wrk is missing: install it (Debian/Ubuntu: sudo apt-get install wrk)" >&2
        exit 2
    fi
fi

step "building the release examples bench_app and mock_idp"
cargo build --release --quiet --example bench_app --example mock_idp

if $python; then
    venv=target/load-venv
    requirements=tests/load/requirements.txt
    stamp="$venv/.requirements"
    if [[ ! -x $venv/bin/python ]] || ! cmp -s "$requirements" "$stamp"; then
        step "installing py-oidc-auth into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
        cp "$requirements" "$stamp"
    fi
fi

step "running the benchmark"
exec python3 -B tests/load/bench.py "$@"
