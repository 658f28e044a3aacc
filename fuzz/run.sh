#!/usr/bin/env bash
# Fuzzes oidc-actix with cargo-fuzz (libFuzzer) on the stable toolchain.
#
#   fuzz/run.sh --replay                   every target over its seeds, corpus and regressions, once
#   fuzz/run.sh --seconds N [TARGET...]    fuzz each target N seconds, then minimise its corpus
#   fuzz/run.sh --keep-going --seconds N [TARGET...]   the same, going on after a crash
#
# cargo-fuzz passes nightly-only flags (-Zsanitizer, -Cpasses=sancov-module); RUSTC_BOOTSTRAP=1
# lets the stable compiler accept them. The sanitizer is AddressSanitizer unless FUZZ_SANITIZER
# says otherwise (`none` runs faster and still catches panics, which is what safe Rust code
# shows). Debug assertions, and so integer overflow checks, are on (`-a`), as in `cargo test`.
#
# Inputs: the seeds, which the corpus test writes from code (fuzz/targets/) into
# fuzz/work/seeds/; the committed corpus fuzz/corpus/<target>/; the regression inputs
# fuzz/regressions/<target>/. The committed ones have their outcomes listed beside their folder
# (<target>.outcomes), which the corpus test checks; it records the corpus's after a run.
# New inputs go to a working corpus (fuzz/work/<target>/, git-ignored, kept between runs),
# which is minimised with `cargo fuzz cmin`; then the FUZZ_KEEP (default 45) inputs that add
# the most coverage to the seeds' become the committed corpus. Crashes land in
# fuzz/artifacts/<target>/; see README.md for what to do with one.
set -euo pipefail
cd "$(dirname "$0")"

export RUSTC_BOOTSTRAP=1
SANITIZER="${FUZZ_SANITIZER:-address}"
KEEP="${FUZZ_KEEP:-45}"
TARGETS=(jwt claims token_route state provider_documents macro_args differential)

usage() {
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

ensure_cargo_fuzz() {
    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "== installing cargo-fuzz"
        cargo install cargo-fuzz --locked
    fi
}

# The seed inputs are defined in code (`seeds()` in fuzz/targets/<target>.rs); the corpus test
# checks their outcomes and writes them out. FUZZ_REUSE_SEEDS=1 keeps those of an
# earlier run (building the test can take minutes after a change to the library).
write_seeds() {
    if [ -n "${FUZZ_REUSE_SEEDS:-}" ] && [ -d work/seeds ]; then
        return
    fi
    echo "== write the seeds into fuzz/work/seeds/"
    rm -rf work/seeds
    mkdir -p work/seeds
    (cd .. && OIDC_ACTIX_FUZZ_WRITE_SEEDS="$PWD/fuzz/work/seeds" \
        cargo test --quiet --test fuzz_corpus seeds_have_their_expected_outcomes) >/dev/null
}

build() {
    cargo fuzz build -a -s "$SANITIZER" "$1"
}

# The folders of a target's inputs that exist.
input_dirs() {
    local target=$1 dir
    for dir in "work/seeds/$target" "corpus/$target" "regressions/$target"; do
        [ -d "$dir" ] && echo "$dir"
    done
}

# Every input of a target, once (libFuzzer's -runs=0 runs the given folders without mutating).
replay() {
    local target=$1
    local dirs
    mapfile -t dirs < <(input_dirs "$target")
    echo "== replay $target (${dirs[*]})"
    build "$target"
    cargo fuzz run -a -s "$SANITIZER" "$target" "${dirs[@]}" -- -runs=0
}

# Prefixes each line with the seconds since the start.
timestamp() {
    local start=$SECONDS line
    while IFS= read -r line; do
        printf '%5d %s\n' $((SECONDS - start)) "$line"
    done
}

# From a timestamped libFuzzer log: cov/ft every 30 s, when each last grew, and the executions.
summarise() {
    awk '
        / cov: / {
            t = $1
            for (i = 2; i < NF; i++) {
                if ($i == "cov:") cov = $(i + 1)
                if ($i == "ft:") ft = $(i + 1)
                if ($i ~ /^#[0-9]+:?$/) { execs = substr($i, 2); sub(/:$/, "", execs) }
            }
            if (cov + 0 > maxcov) { maxcov = cov + 0; covat = t }
            if (ft + 0 > maxft) { maxft = ft + 0; ftat = t }
            if (t >= next_report) {
                printf "   %5ds  #%s  cov %s  ft %s\n", t, execs, cov, ft
                next_report = t - t % 30 + 30
            }
        }
        /stat::number_of_executed_units/ { execs = $NF }
        /==[0-9]+== ERROR|panicked at|SUMMARY: / { print "   " $0 }
        END {
            printf "   end: %s executions; cov %d (last grew at %ds), ft %d (last grew at %ds)\n", \
                execs, maxcov, covat, maxft, ftat
        }' "$1"
}

# Replaces corpus/<target> with at most $KEEP inputs of the working corpus, picked greedily by
# the coverage edges they add to the seeds'. libFuzzer's merge control file credits each edge
# to the first input that reached it, the seeds (the merge's first folder) first, then the
# others from the smallest. A full edge cover takes hundreds of inputs, the last of which add
# one error path of a JSON or base64 decoder each: the committed corpus stays small, and the
# working corpus keeps everything.
commit_corpus() {
    local target=$1 log=$2
    local control="logs/$target.merge" merged="work/.merge-$target"
    rm -rf "$merged" "$control"
    mkdir -p "$merged"
    cp -R "work/seeds/$target/." "$merged/"
    cargo fuzz run -a -s "$SANITIZER" "$target" "$merged" "work/$target" -- \
        -merge=1 -use_counters=0 -use_cmp=0 -merge_control_file="$control" >>"$log" 2>&1
    rm -rf "$merged" "corpus/$target"
    mkdir -p "corpus/$target"
    python3 - "$control" "corpus/$target" "$KEEP" <<'PY'
import shutil, sys
control, out, keep = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = open(control).read().split("\n")
count, seeds = int(lines[0]), int(lines[1])
paths = lines[2:2 + count]
edges = {}
for line in lines[2 + count:]:
    if line.startswith("COV "):
        index, *cov = line.split()[1:]
        edges[int(index)] = set(cov)
everything = set().union(*edges.values()) if edges else set()
covered = set()
for index in [i for i in edges if i < seeds]:
    covered |= edges.pop(index)
by_seeds, chosen = len(covered), []
while len(chosen) < keep and edges:
    best = max(edges, key=lambda i: len(edges[i] - covered))
    if not edges[best] - covered:
        break
    covered |= edges.pop(best)
    chosen.append(best)
for index in chosen:
    shutil.copy(paths[index], out)
print(f"   edges: {len(everything)} reached, {by_seeds} by the {seeds} seeds, "
      f"{len(covered)} with the {len(chosen)} committed inputs")
PY
    echo "   corpus/$target: $(find "corpus/$target" -type f | wc -l) files," \
        "$(du -sb "corpus/$target" | cut -f1) bytes"
}

# Rewrites corpus/<target>.outcomes with the outcome of each committed input (the corpus test
# then checks them on every `cargo test`).
record_outcomes() {
    local target=$1 log=$2
    (cd .. && OIDC_ACTIX_FUZZ_RECORD_CORPUS=1 \
        cargo test --quiet --test fuzz_corpus -- --exact "${target}_corpus_replays") >>"$log" 2>&1 ||
        { echo "!! the replay of $target failed: see fuzz/$log"; return 1; }
    echo "   corpus/$target.outcomes: $(grep -c ' accepted$' "corpus/$target.outcomes") accepted," \
        "$(grep -c ' rejected$' "corpus/$target.outcomes") rejected"
}

fuzz() {
    local target=$1 seconds=$2
    # libFuzzer adds inputs to the first folder it is given: the git-ignored working corpus,
    # which persists between runs and starts from the committed one.
    mkdir -p "work/$target" "corpus/$target" logs
    cp -R "corpus/$target/." "work/$target/"
    local dirs
    mapfile -t dirs < <(input_dirs "$target")
    local log="logs/$target.log"
    echo "== fuzz $target for ${seconds}s (full log: fuzz/$log)"
    build "$target"
    # One job (the machine is shared); the final stats give the execution count.
    local status=0
    cargo fuzz run -a -s "$SANITIZER" "$target" "work/$target" "${dirs[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 -dict=fuzz.dict "${KEEP_GOING[@]}" 2>&1 |
        timestamp >"$log" || status=$?
    summarise "$log"
    if [ "$status" -ne 0 ]; then
        echo "!! $target failed (exit $status): see fuzz/$log and fuzz/artifacts/$target/"
        return "$status"
    fi
    echo "== minimise the corpus of $target"
    cargo fuzz cmin -a -s "$SANITIZER" "$target" "work/$target" >>"$log" 2>&1
    echo "   work/$target: $(find "work/$target" -type f | wc -l) files"
    commit_corpus "$target" "$log"
    record_outcomes "$target" "$log"
}

# --keep-going: libFuzzer's fork mode with one job, which records a crash in artifacts/ and
# goes on fuzzing (for a known defect that is not fixed yet).
KEEP_GOING=()
if [ "${1:-}" = --keep-going ]; then
    KEEP_GOING=(-fork=1 -ignore_crashes=1)
    shift
fi
mode=${1:-}
[ -n "$mode" ] || usage
shift
case "$mode" in
    --replay)
        ensure_cargo_fuzz
        write_seeds
        for target in "${TARGETS[@]}"; do replay "$target"; done
        ;;
    --seconds)
        seconds=${1:?--seconds needs a number}
        shift
        [ $# -gt 0 ] && TARGETS=("$@")
        ensure_cargo_fuzz
        write_seeds
        for target in "${TARGETS[@]}"; do fuzz "$target" "$seconds"; done
        ;;
    *)
        usage
        ;;
esac
