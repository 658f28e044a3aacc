#!/usr/bin/env python3
"""Self-test of the soak test (tests/load/soak.sh): each fault below must make the verdict it
names fail, or the verdict proves nothing.

    tests/load/soak_faults.py                          # every fault (~25 min on 2 cores)
    tests/load/soak_faults.py --faults audience,mislabelled,bypass-log   # no build (~3 min)

| fault | what is wrong | verdict that must fail |
|---|---|---|
| audience | the application expects another audience: every valid token is refused | no wrong answer |
| mislabelled | the bad-signature token file holds valid tokens: they are accepted | no wrong answer |
| bypass-log | the application fetches its keys around the provider's log | provider log complete and consistent |
| cache-ignores-keys | mutant: cached tokens outlive their key's retirement (rotation run) | no wrong answer |
| cache-ignores-exp | mutant: cached tokens outlive their `exp` | no wrong answer |
| no-cooldown | mutant: every unknown `kid` refetches the key set | provider requests bounded |
| unbounded-cache | mutant: the token cache never evicts | memory flat |

The first three use the release examples as built (run tests/load/soak.sh once first). The
mutants are the library with one defect each, switched on by the SOAK_MUTANT environment
variable: the script copies the workspace's files (git's tracked and untracked ones, not
target/) to target/soak-faults/workspace/, patches the copy (never the repository; a patch
that no longer applies is reported as such), and builds its release examples into
target/soak-faults/target/ (kept, so later runs build incrementally). Each fault runs
tests/load/soak.py for a short load with a small token set; its run directory is
target/soak-faults/<fault>/. Exit 0 when every fault was caught, 1 otherwise.
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "target" / "soak-faults"
COPY = WORK / "workspace"


@dataclass(frozen=True)
class Fault:
    name: str
    mode: str
    duration: int
    must_fail: str
    mutant: bool = False
    # The full token set of soak.py (the leak needs warm tokens that never run out).
    full_tokens: bool = False
    app_env: dict = field(default_factory=dict)


FAULTS = [
    Fault("audience", "steady", 20, "no wrong answer",
          app_env={"OIDC_AUDIENCE": "another-client"}),
    Fault("mislabelled", "steady", 20, "no wrong answer"),
    Fault("bypass-log", "steady", 20, "provider log complete and consistent",
          app_env={"OIDC_JWKS_URI": ""}),
    Fault("cache-ignores-keys", "rotation", 60, "no wrong answer", mutant=True),
    Fault("cache-ignores-exp", "steady", 40, "no wrong answer", mutant=True),
    Fault("no-cooldown", "steady", 40, "provider requests bounded", mutant=True),
    Fault("unbounded-cache", "steady", 90, "memory flat", mutant=True, full_tokens=True),
]

# (file, original, mutated): each mutation is dormant unless SOAK_MUTANT names it.
PATCHES = [
    ("oidc-actix/src/cache.rs",
     "now < self.exp as f64 && keys.still_holds(self.kid.as_deref(), &self.key)",
     "(mutant(\"cache-ignores-exp\") || now < self.exp as f64)\n"
     "            && (mutant(\"cache-ignores-keys\")\n"
     "                || keys.still_holds(self.kid.as_deref(), &self.key))"),
    ("oidc-actix/src/cache.rs",
     "        if cache.entries.len() >= capacity {\n",
     "        if cache.entries.len() >= capacity && !mutant(\"unbounded-cache\") {\n"),
    ("oidc-actix/src/cache.rs",
     "use std::any::Any;\n",
     "use std::any::Any;\n\n"
     "fn mutant(name: &str) -> bool {\n"
     "    std::env::var(\"SOAK_MUTANT\").is_ok_and(|m| m == name)\n"
     "}\n"),
    ("oidc-actix/src/provider.rs",
     "        if reason == Reason::UnknownKid {\n",
     "        if reason == Reason::UnknownKid {\n"
     "            if std::env::var(\"SOAK_MUTANT\").is_ok_and(|m| m == \"no-cooldown\") {\n"
     "                state.last_unknown_kid_fetch = None;\n"
     "            }\n"),
]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def build_mutant() -> None:
    """Copies the workspace to COPY, applies PATCHES, builds the release examples."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (COPY / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, COPY / name)
    for name, original, mutated in PATCHES:
        path = COPY / name
        text = path.read_text()
        if original not in text:
            raise SystemExit(f"cannot apply a mutant to {name}: the code changed; update "
                             f"PATCHES in {Path(__file__).name} (looked for {original!r})")
        path.write_text(text.replace(original, mutated))
    log("building the mutant library's release examples (first time: several minutes)")
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "conformance",
                    "--example", "mock_idp", "--example", "soak_client"],
                   cwd=COPY, check=True,
                   env={**os.environ, "CARGO_TARGET_DIR": str(WORK / "target")})
    # soak.py finds the examples under its workspace's target/release/examples.
    link = COPY / "target"
    if not link.exists():
        link.symlink_to(WORK / "target")


def run_one(fault: Fault, root: Path) -> int:
    """Runs soak.py from `root` with the fault in place (in this process)."""
    sys.path.insert(0, str(root / "tests" / "load"))
    import soak  # noqa: E402 (the soak.py of `root`)

    if not fault.full_tokens:
        def small(mode: str, duration: float) -> list[str]:
            common = ["--forged", "2000", "--expired", "500", "--bad-signature", "100",
                      "--alg-none", "200", "--expiring", "16", "--warm", "20000",
                      "--expiring-in", str(int(duration / 2) + 3)]
            return (["--distinct", "5000", *common] if mode == "steady"
                    else ["--distinct", "100", "--rotation", "3000", *common])
        soak.mint_flags = small

    base = soak.Process

    class FaultyProcess(base):
        def __init__(self, name, argv, logs, cwd=soak.ROOT, env=None,
                     stdin=subprocess.DEVNULL):
            env = dict(env or {})
            if name == "conformance":
                env.update(fault.app_env)
            super().__init__(name, argv, logs, cwd=cwd, env=env, stdin=stdin)
            self.argv = argv

        def first_line(self, timeout: float) -> dict:
            info = super().first_line(timeout)
            if self.name == "mock_idp" and fault.name == "mislabelled":
                tokens = Path(self.argv[self.argv.index("--tokens") + 1])
                shutil.copy(tokens / "distinct-rs256.txt", tokens / "bad-signature.txt")
            return info

    soak.Process = FaultyProcess
    sys.argv = ["soak.py", "--mode", fault.mode, "--duration", str(fault.duration),
                "--out", str(WORK / fault.name)]
    return soak.main()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faults", default=",".join(f.name for f in FAULTS),
                        help="comma-separated (default: all)")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    by_name = {f.name: f for f in FAULTS}
    if args.one:
        fault = by_name[args.one]
        return run_one(fault, COPY if fault.mutant else ROOT)
    chosen = [by_name.get(name) for name in args.faults.split(",")]
    if None in chosen:
        parser.error(f"--faults: choose among {', '.join(by_name)}")
    if any(f.mutant for f in chosen):
        build_mutant()
    outcomes = []
    for fault in chosen:
        log(f"{fault.name}: {fault.mode} run of {fault.duration} s; "
            f"'{fault.must_fail}' must fail")
        env = {**os.environ}
        if fault.mutant:
            env["SOAK_MUTANT"] = fault.name
        code = subprocess.run([sys.executable, "-B", __file__, "--one", fault.name],
                              env=env, stdout=subprocess.DEVNULL).returncode
        results = WORK / fault.name / "results.json"
        verdicts = {}
        if code in (0, 1) and results.exists():
            run = json.loads(results.read_text())["runs"][0]
            verdicts = {v["name"]: v for v in run["verdicts"]}
        target = verdicts.get(fault.must_fail)
        caught = target is not None and not target["holds"]
        outcomes.append((fault, caught, target))
        log(f"{fault.name}: {'caught' if caught else 'MISSED'}"
            + (f" ({target['measured']})" if target else f" (soak.py exit {code})"))
    print("| fault | verdict | measured | |\n|---|---|---|---|")
    for fault, caught, target in outcomes:
        print(f"| {fault.name} | {fault.must_fail} | "
              f"{target['measured'] if target else 'no result'} | "
              f"{'caught' if caught else '**MISSED**'} |")
    return 0 if all(caught for _, caught, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
