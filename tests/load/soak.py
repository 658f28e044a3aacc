#!/usr/bin/env python3
"""The soak test of oidc-actix; run it through tests/load/soak.sh (usage there).

For each mode it starts the mock provider (tests/load/mock_idp.rs, which mints the tokens), the
conformance example (examples/conformance.rs) fetching its keys through the provider's logged
/jwks, and the load client (tests/load/soak_client.rs), which sends the mix at full speed for
--duration seconds and judges every answer. Meanwhile this script samples the application's
memory (VmRSS) every --rss-every seconds; before and after it reads the provider's request
counters. Then it computes the verdicts, writes target/soak/<timestamp>/{results.json,report.md}
(target/soak/latest points there), prints the report, and exits 0 when every verdict holds,
1 when one fails, 2 when the run could not be made.

The verdicts (each states its numbers in the report):

* no 5xx: no answer with a status of 500 or more;
* no wrong answer: the client's judgement of every answer (see tests/load/soak_client.rs: a token
  with a genuine signature must be accepted exactly when its key is in the key set the
  application held and it has not expired; forged and anonymous requests must be refused; a
  200 must name the token's `sub`; every request must be answered);
* coverage: every category of the mix was sent, valid tokens were due to be accepted, the
  expiring tokens were seen on both sides of their `exp`, distinct warm tokens (each sent twice,
  so the token cache admits them) numbered at least 4 x the token cache's capacity, and in the
  rotation run old keys' tokens were due to be accepted and retired ones refused, so none of
  the checks passed for want of cases;
* memory flat: every RSS sample of the second half of the load, and the RSS --settle seconds
  after it, are at most --memory-tolerance percent (default 5) above the largest sample of the
  first half: the caches fill during the first half (the token cache admits a token on its
  second verification, so with many distinct tokens it fills over minutes) and nothing grows
  after that. The report adds the second half's least-squares slope in MiB/h;
* provider requests bounded: 1 discovery request, no request to other endpoints, and at most
  1 + (1 + floor(D / cooldown)) + floor(D / ttl) key-set requests over the D seconds from the
  first request to the end (the first load, one unknown-kid refetch per started cooldown window,
  one background refresh per TTL);
* provider log complete and consistent: every key-set request the provider counted is in the
  log the oracle reads (so the application fetched its keys through it), and every key set in
  it is what was published when it was served;
* key rotation (rotation run): after each publication the application received a key set with
  the new key within cooldown + grace, and after each retirement one without the old key within
  min(cooldown, ttl) + grace (cooldown: the mix always carries unknown kids); at least 2 of each
  happened.

Standard library only; it reuses the process helpers of tests/load/bench.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import (Process, children_cpu, cpu_seconds, descendants, http_get, loadavg, log,
                   rss_kib)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "target" / "release" / "examples"
AUDIENCE = "oidc-actix-test"  # oidc_actix::testing::TEST_AUDIENCE, the `aud` of minted tokens
LIBRARY_COOLDOWN_S, LIBRARY_TTL_S = 30, 900  # OidcAuthBuilder's defaults
TOKEN_CACHE_ENTRIES = 2 * 2048  # the default token_cache_capacity, per worker, x 2 workers


# --- processes -------------------------------------------------------------------------------

def read_line(process: Process, prefix: str, timeout: float) -> str:
    """The first line of the process's output starting with `prefix` (without it)."""
    found: list = []

    def reader() -> None:
        for raw in process.proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith(prefix):
                found.append(line[len(prefix):])
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    if not found:
        process.stop()
        raise RuntimeError(f"{process.name} did not start; see {process.log_path}")
    return found[0]


def admin(url: str, path: str) -> dict:
    status, body = http_get(url, path)
    if status != 200:
        raise RuntimeError(f"GET {url}{path}: {status}")
    return json.loads(body)


class RssSampler:
    """Samples the application's VmRSS (and CPU time) every `every` seconds on a thread."""

    def __init__(self, pid: int, every: float, began: float):
        self.pid, self.every, self.began = pid, every, began
        self.samples: list[dict] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while True:
            pids = descendants(self.pid)
            self.samples.append({"t_s": round(time.time() - self.began, 2),
                                 "rss_kib": rss_kib(pids),
                                 "cpu_s": round(cpu_seconds(pids), 2)})
            if self.stopping.wait(self.every):
                return

    def stop(self) -> list[dict]:
        self.stopping.set()
        self.thread.join()
        return self.samples


# --- one mode --------------------------------------------------------------------------------

def mint_flags(mode: str, duration: float) -> list[str]:
    # Enough distinct valid tokens that the token cache (2 workers x 2048 by default) keeps
    # churning; the expiring tokens, minted last, expire in the middle of the load (which starts
    # a few seconds after minting).
    # Warm tokens are each sent twice and never again: 1,500 per second of load is enough for
    # ~50,000 requests/s with the default mix (6 % warm). 600 (sized for ~21,000/s) ran out in
    # a quick run at 37,054 requests/s (2026-12-08: coverage failed, "36000 warm tokens ran
    # out"); minting runs at about 8,000 tokens/s, so the margin costs seconds.
    common = ["--forged", "20000", "--expired", "5000", "--bad-signature", "1000",
              "--alg-none", "2000", "--expiring", "64",
              "--expiring-in", str(int(duration / 2) + 3), "--warm", str(int(1500 * duration))]
    if mode == "steady":
        return ["--distinct", "50000", *common]
    return ["--distinct", "100", "--rotation", "15000", *common]


def run_mode(mode: str, args, out: Path) -> dict:
    """Runs one mode; returns everything measured (the verdicts come later)."""
    directory = out / mode
    logs = directory / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    tokens = directory / "tokens"
    cooldown = args.cooldown or (LIBRARY_COOLDOWN_S if mode == "steady" else 10)
    ttl = args.ttl or (LIBRARY_TTL_S if mode == "steady" else 60)
    result: dict = {"mode": mode, "duration_s": args.duration, "cooldown_s": cooldown,
                    "ttl_s": ttl, "grace_ms": args.grace_ms,
                    "memory_tolerance_pct": args.memory_tolerance,
                    "loadavg_before": loadavg()}
    log(f"{mode}: minting tokens (load average {result['loadavg_before']})")
    processes: list[Process] = []
    try:
        idp = Process("mock_idp",
                      [str(EXAMPLES / "mock_idp"), "--tokens", str(tokens),
                       *mint_flags(mode, args.duration), "--stdin-eof-stops"],
                      logs, stdin=subprocess.PIPE)
        processes.append(idp)
        info = idp.first_line(timeout=900)
        result["idp"] = info
        log(f"{mode}: {info['minted']} tokens minted in {info['mint_seconds']:.1f} s")
        env = {
            "OIDC_DISCOVERY_URL": info["discovery_url"],
            "OIDC_CLIENT_ID": AUDIENCE,
            "OIDC_AUDIENCE": AUDIENCE,
            # Keys through the provider's logged /jwks: the client's oracle reads that log.
            "OIDC_JWKS_URI": info["jwks_proxy_url"],
            "JWKS_REFETCH_COOLDOWN_SECS": str(cooldown),
            "JWKS_TTL_SECS": str(ttl),
            "BIND": "127.0.0.1:0",
            "RUST_LOG": "warn",
        }
        app = Process("conformance", [str(EXAMPLES / "conformance")], logs, env=env)
        processes.append(app)
        target = read_line(app, "READY ", 60)
        # The application idle, before its first request.
        time.sleep(1)
        result["rss_before_kib"] = rss_kib(descendants(app.proc.pid))
        result["published_before"] = admin(info["admin_url"], "/keys")["published"]
        counts_before = admin(info["admin_url"], "/counts")
        client_out = directory / "client.json"
        argv = [str(EXAMPLES / "soak_client"), "--target", target,
                "--admin", info["admin_url"], "--tokens", str(tokens), "--mode", mode,
                "--duration", str(args.duration), "--connections", str(args.connections),
                "--threads", str(args.threads), "--grace-ms", str(args.grace_ms),
                "--rotate-every", str(args.rotate_every),
                "--retire-after", str(args.retire_after), "--out", str(client_out)]
        log(f"{mode}: load for {args.duration:.0f} s, {args.connections} connections, "
            f"cooldown {cooldown} s, TTL {ttl} s")
        began = time.time()
        sampler = RssSampler(app.proc.pid, args.rss_every, began)
        cpu_before = cpu_seconds(descendants(app.proc.pid))
        client_cpu_before = children_cpu()
        client = subprocess.run(argv, cwd=ROOT, stdin=subprocess.DEVNULL)
        result["client_cpu_s"] = children_cpu() - client_cpu_before
        result["rss_during"] = sampler.stop()
        result["load_began_unix"] = began
        if client.returncode != 0 or not client_out.exists():
            raise RuntimeError(f"soak_client failed (exit {client.returncode})")
        result["server_cpu_s"] = cpu_seconds(descendants(app.proc.pid)) - cpu_before
        # After: the load stopped and the application idle again.
        time.sleep(args.settle)
        result["rss_after_kib"] = rss_kib(descendants(app.proc.pid))
        counts_after = admin(info["admin_url"], "/counts")
        result["counts_read_unix"] = time.time()
        result["idp_requests"] = {k: counts_after[k] - counts_before.get(k, 0)
                                  for k in counts_after}
        result["client"] = json.loads(client_out.read_text())
        if app.proc.poll() is not None:
            raise RuntimeError(f"the application exited (code {app.proc.returncode}); "
                               f"see {app.log_path}")
    finally:
        for process in reversed(processes):
            process.stop()
        if not args.keep_tokens:
            shutil.rmtree(tokens, ignore_errors=True)
    result["loadavg_after"] = loadavg()
    return result


# --- verdicts --------------------------------------------------------------------------------

def verdict(name: str, holds: bool, measured: str, limit: str) -> dict:
    return {"name": name, "holds": bool(holds), "measured": measured, "limit": limit}


def slope_mib_per_hour(samples: list[dict]) -> float:
    """Least-squares slope of RSS over time."""
    n = len(samples)
    if n < 2:
        return 0.0
    ts = [s["t_s"] for s in samples]
    ys = [s["rss_kib"] / 1024 for s in samples]
    t_mean, y_mean = sum(ts) / n, sum(ys) / n
    var = sum((t - t_mean) ** 2 for t in ts)
    cov = sum((t - t_mean) * (y - y_mean) for t, y in zip(ts, ys))
    return cov / var * 3600 if var else 0.0


def memory_verdict(result: dict, tolerance: float) -> dict:
    samples = result["rss_during"]
    duration = result["duration_s"]
    first_half = [s for s in samples if s["t_s"] < duration / 2]
    second_half = [s for s in samples if duration / 2 <= s["t_s"] <= duration]
    if len(first_half) < 3 or len(second_half) < 3:
        return verdict("memory flat", False, "too few RSS samples", "")
    # The caches fill during the first half (the token cache admits a token on its second
    # verification, so with many distinct tokens it fills over minutes, not seconds); a leak
    # keeps growing through the second half.
    reference = max(first_half, key=lambda s: s["rss_kib"])
    ceiling = reference["rss_kib"] * (1 + tolerance / 100)
    peak = max(s["rss_kib"] for s in second_half)
    low = min(s["rss_kib"] for s in second_half)
    after = result["rss_after_kib"]
    mib = lambda kib: f"{kib / 1024:.1f}"  # noqa: E731
    return verdict(
        "memory flat",
        peak <= ceiling and after <= ceiling,
        f"first half max {mib(reference['rss_kib'])} MiB (at {reference['t_s']:.0f} s); "
        f"second half {mib(low)}–{mib(peak)} MiB "
        f"({(peak / reference['rss_kib'] - 1) * 100:+.1f} %, slope "
        f"{slope_mib_per_hour(second_half):+.1f} MiB/h); after {mib(after)} MiB",
        f"second half and after ≤ {mib(ceiling)} MiB (first half max +{tolerance:g} %)")


def idp_verdict(result: dict) -> dict:
    client = result["client"]
    requests = result["idp_requests"]
    first_request = client["first_send_us"] / 1e6
    span = max(0.0, result["counts_read_unix"] - first_request)
    cooldown, ttl = result["cooldown_s"], result["ttl_s"]
    jwks_bound = 1 + (1 + int(span // cooldown)) + int(span // ttl)
    others = requests["total"] - requests["discovery"] - requests["jwks"]
    return verdict(
        "provider requests bounded",
        requests["discovery"] <= 1 and others == 0 and requests["jwks"] <= jwks_bound,
        f"discovery {requests['discovery']}, JWKS {requests['jwks']}, other {others} "
        f"over {span:.0f} s",
        f"discovery ≤ 1, other 0, JWKS ≤ 1 + (1 + ⌊{span:.0f}/{cooldown}⌋) + "
        f"⌊{span:.0f}/{ttl}⌋ = {jwks_bound}")


def rotation_verdicts(result: dict) -> list[dict]:
    """Adoption and retirement delays, and the provider log's consistency (rotation run)."""
    client = result["client"]
    events = client["key_events"]
    serves = sorted((s for s in client["jwks_serves"] if s["status"] == 200),
                    key=lambda s: s["start_us"])
    grace = result["grace_ms"] / 1000
    cooldown, ttl = result["cooldown_s"], result["ttl_s"]
    unknown_kids = client["mix"].get("unknown-kid", 0) > 0
    retire_bound = (min(cooldown, ttl) if unknown_kids else ttl) + grace
    adopt_bound = cooldown + grace
    end_us = client["last_answer_us"]
    delays = {"publish": [], "unpublish": []}
    unobserved = 0
    for event in events:
        # The first key set the provider began to serve after the change shows it.
        after = next((s for s in serves if s["start_us"] >= event["at_us"]), None)
        if after is None:
            unobserved += 1
            bound = adopt_bound if event["action"] == "publish" else retire_bound
            if (end_us - event["at_us"]) / 1e6 > bound:
                delays[event["action"]].append(float("inf"))
            continue
        delays[event["action"]].append((after["end_us"] - event["at_us"]) / 1e6)
        event["seen_by_application_s"] = round((after["end_us"] - event["at_us"]) / 1e6, 3)
    fmt = lambda xs: f"max {max(xs):.1f} s over {len(xs)}" if xs else "none"  # noqa: E731
    publishes = sum(1 for e in events if e["action"] == "publish")
    retirements = len(events) - publishes
    return [
        verdict("new key adopted in time", all(d <= adopt_bound for d in delays["publish"]),
                f"{fmt(delays['publish'])} publications"
                + (f" ({unobserved} changes not yet seen when the run ended)" if unobserved else ""),
                f"≤ cooldown + grace = {adopt_bound:g} s"),
        verdict("retired key dropped in time",
                all(d <= retire_bound for d in delays["unpublish"]),
                f"{fmt(delays['unpublish'])} retirements",
                f"≤ {'min(cooldown, TTL)' if unknown_kids else 'TTL'} + grace = "
                f"{retire_bound:g} s"),
        verdict("key rotations happened", publishes >= 2 and retirements >= 2,
                f"{publishes} publications, {retirements} retirements", "≥ 2 each"),
    ]


def log_verdict(result: dict) -> dict:
    """The oracle's premise: the provider's log holds every key set the application received,
    and each is what was published when it was served (a change during a serve may go either
    way)."""
    client = result["client"]
    logged = client["jwks_serves"]
    counted = result["idp_requests"]["jwks"]
    changes = [(0, set(result["published_before"]))] + [
        (e["at_us"], set(e["published"])) for e in client["key_events"]]
    mismatched = 0
    for serve in logged:
        before = [kids for at, kids in changes if at <= serve["start_us"]]
        during = [kids for at, kids in changes if serve["start_us"] < at <= serve["end_us"]]
        if set(serve["kids"]) not in before[-1:] + during:
            mismatched += 1
    return verdict(
        "provider log complete and consistent",
        len(logged) == counted and counted > 0 and mismatched == 0,
        f"{len(logged)} key sets logged, {counted} counted by the provider, "
        f"{mismatched} not what was published",
        "every key-set request logged (the application fetches through the log), "
        "0 mismatched")


def coverage_verdict(result: dict) -> dict:
    client = result["client"]
    categories = client["categories"]
    names = {"hot": "valid.hot", "fresh": "valid.fresh", "warm": "valid.warm",
             "expiring": "valid.expiring",
             "expired": "expired", "bad-signature": "forged.bad-signature",
             "unknown-kid": "forged.unknown-kid", "alg-none": "forged.alg-none",
             "anonymous": "anonymous"}
    missing = [names[pick] for pick, weight in client["mix"].items()
               if weight > 0 and pick in names and names[pick] not in categories]
    problems = [f"{name} not sent" for name in missing]
    expected = lambda name, kind: categories.get(name, {}).get("expected", {}).get(kind, 0)  # noqa: E731
    for name in ("valid.hot", "valid.fresh"):
        if name in categories and expected(name, "accept") == 0:
            problems.append(f"no {name} token was due to be accepted")
    if client["mix"].get("expiring", 0) > 0 and not (
            expected("valid.expiring", "accept") and expected("valid.expiring", "reject")):
        problems.append("the expiring tokens were not seen on both sides of exp "
                        f"({client.get('expiring_exp')})")
    warm = client.get("warm", {"sent": 0, "pool": 0, "all_distinct": True})
    if client["mix"].get("warm", 0) > 0:
        # The token cache must have been filled several times over (and so evicted), or the
        # memory verdict says nothing about its bound.
        if warm["sent"] < 4 * TOKEN_CACHE_ENTRIES:
            problems.append(f"only {warm['sent']} warm tokens: fewer than 4 x the token cache "
                            f"({TOKEN_CACHE_ENTRIES} entries)")
        if not warm["all_distinct"]:
            problems.append(f"the {warm['pool']} warm tokens ran out (some sent again)")
    if client["mode"] == "rotation":
        if client["mix"].get("previous-key", 0) > 0:
            if expected("retired-key", "reject") == 0:
                problems.append("no retired-key token was due to be refused")
            if expected("valid.old-key", "accept") == 0:
                problems.append("no old-key token was due to be accepted")
    return verdict("coverage", not problems, "; ".join(problems) or
                   f"{len(categories)} categories, every one exercised; {warm['sent']:,} warm "
                   f"tokens, {warm['sent'] / TOKEN_CACHE_ENTRIES:.0f} x the token cache",
                   "every case exercised")


def verdicts(result: dict, memory_tolerance: float) -> list[dict]:
    totals = result["client"]["totals"]
    wrong_detail = ", ".join(f"{k.replace('_', ' ')} {totals[k]}" for k in
                             ("valid_rejected", "invalid_accepted", "wrong_identity",
                              "unexpected_status", "no_answer"))
    found = [
        verdict("no 5xx", totals["server_errors"] == 0, str(totals["server_errors"]), "0"),
        verdict("no wrong answer", totals["wrong"] == 0,
                f"{totals['wrong']} ({wrong_detail})", "0"),
        coverage_verdict(result),
        memory_verdict(result, memory_tolerance),
        idp_verdict(result),
        log_verdict(result),
    ]
    if result["mode"] == "rotation":
        found += rotation_verdicts(result)
    return found


# --- report ----------------------------------------------------------------------------------

def render(results: list[dict], meta: dict) -> str:
    out = [f"# Soak test, {meta['started']}", "",
           *([f"Verdicts computed again on {meta['rejudged']} from the recorded samples "
              "(`soak.py --rejudge`).", ""] if meta.get("rejudged") else []),
           f"Machine: {meta['machine']}. Load average before: {meta['loadavg_before']}, "
           f"after: {meta['loadavg_after']}.", ""]
    for result in results:
        client = result["client"]
        out += [f"## {result['mode']} ({result['duration_s']:.0f} s)", ""]
        out += [f"{client['requests']:,} requests in {client['load_seconds']:.1f} s: "
                f"**{client['requests_per_second']:,.0f} requests/s** over "
                f"{client['connections']} connections; latency p50 "
                f"{client['latency_ms']['p50']:.2f} ms, p99 {client['latency_ms']['p99']:.2f} ms, "
                f"max {client['latency_ms']['max']:.1f} ms. Server CPU "
                f"{result['server_cpu_s']:.0f} s "
                f"({result['server_cpu_s'] * 1e6 / max(1, client['requests']):.0f} µs/request), "
                f"load client CPU {result['client_cpu_s']:.0f} s "
                f"({result['client_cpu_s'] * 1e6 / max(1, client['requests']):.0f} µs/request). "
                f"Application: jwks_refetch_cooldown {result['cooldown_s']} s, jwks_ttl "
                f"{result['ttl_s']} s, leeway 0, token cache default; oracle grace "
                f"{result['grace_ms']} ms. Load average {result['loadavg_before']} → "
                f"{result['loadavg_after']}.", ""]
        out += ["| category | sent | 200 | 401 | other | due: accept / refuse / either | "
                "either answered 200 / 401 | wrong |", "|---|---|---|---|---|---|---|---|"]
        for name, c in client["categories"].items():
            statuses = c["statuses"]
            other = sum(n for s, n in statuses.items() if s not in ("200", "401"))
            e = c["expected"]
            out.append(f"| {name} | {c['sent']:,} | {statuses.get('200', 0):,} | "
                       f"{statuses.get('401', 0):,} | {other:,} | {e['accept']:,} / "
                       f"{e['reject']:,} / {e['either']:,} | "
                       f"{c['either_answered']['accepted']:,} / "
                       f"{c['either_answered']['rejected']:,} | {c['wrong_total']:,} |")
        requests = result["idp_requests"]
        switch = client["switch_over"]
        out += ["", f"Provider requests during the run: discovery {requests['discovery']}, "
                    f"JWKS {requests['jwks']}, total {requests['total']}. Answers that still "
                    f"used the key set before the latest one served: "
                    f"{switch['answers_with_the_previous_key_set']:,}, at most "
                    f"{switch['max_after_serve_ms']:.1f} ms after it was served (the grace is "
                    f"{result['grace_ms']} ms).", ""]
        samples = result["rss_during"]
        step = max(1, len(samples) // 12)
        series = ", ".join(f"{s['t_s']:.0f} s: {s['rss_kib'] / 1024:.1f}"
                           for s in samples[::step])
        out += [f"RSS (MiB): before {result['rss_before_kib'] / 1024:.1f}; during ({len(samples)} "
                f"samples every {meta['rss_every_s']:g} s) {series}; after "
                f"{result['rss_after_kib'] / 1024:.1f}.", ""]
        if client["key_events"]:
            out += ["| at (s) | change | published after | seen by the application after (s) |",
                    "|---|---|---|---|"]
            began = result["load_began_unix"]
            for e in client["key_events"]:
                out.append(f"| {e['at_us'] / 1e6 - began:.1f} | {e['action']} {e['kid']} | "
                           f"{', '.join(k for k in e['published'] if k.startswith('rsa'))} | "
                           f"{e.get('seen_by_application_s', '—')} |")
            out.append("")
        out += ["| verdict | measured | limit | |", "|---|---|---|---|"]
        for v in result["verdicts"]:
            out.append(f"| {v['name']} | {v['measured']} | {v['limit']} | "
                       f"{'**holds**' if v['holds'] else '**FAILS**'} |")
        out.append("")
        if client["wrong_examples"]:
            out += ["Wrong answers (first examples):", "", "```"]
            out += [json.dumps(e) for e in client["wrong_examples"][:10]]
            out += ["```", ""]
    failed = [f"{r['mode']}: {v['name']}" for r in results for v in r["verdicts"]
              if not v["holds"]]
    out.append("**All verdicts hold.**" if not failed else
               "**Failed:** " + "; ".join(failed) + ".")
    return "\n".join(out) + "\n"


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    rustc = subprocess.run(["rustc", "-V"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores ({model}), Linux {platform.release()}, {rustc}"


def rejudge(directory: Path, memory_tolerance: float) -> int:
    path = directory / "results.json"
    recorded = json.loads(path.read_text())
    meta, results = recorded["meta"], recorded["runs"]
    for result in results:
        result.setdefault("first_verdicts", result["verdicts"])
        result["memory_tolerance_pct"] = memory_tolerance
        result["verdicts"] = verdicts(result, memory_tolerance)
    meta["rejudged"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    path.write_text(json.dumps(recorded, indent=1))
    text = render(results, meta)
    (directory / "report.md").write_text(text)
    print(text)
    return 0 if all(v["holds"] for r in results for v in r["verdicts"]) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["steady", "rotation", "both"], default="both")
    parser.add_argument("--duration", type=float, default=300.0,
                        help="seconds of load per mode (default 300)")
    parser.add_argument("--quick", action="store_true",
                        help="a 60 s run per mode (unless --duration is given)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="load client threads")
    parser.add_argument("--cooldown", type=int, default=None,
                        help="the application's jwks_refetch_cooldown in s (default: the "
                             "library's 30 s in the steady run, 10 s in the rotation run)")
    parser.add_argument("--ttl", type=int, default=None,
                        help="the application's jwks_ttl in s (default: the library's 900 s "
                             "in the steady run, 60 s in the rotation run)")
    parser.add_argument("--rotate-every", type=float, default=20.0,
                        help="rotation run: seconds between publications (default 20)")
    parser.add_argument("--retire-after", type=float, default=10.0,
                        help="rotation run: seconds from a publication to the retirement of "
                             "the previous key (default 10)")
    parser.add_argument("--grace-ms", type=int, default=1000,
                        help="how long after a key set was served the application may still "
                             "use the previous one (default 1000)")
    parser.add_argument("--rss-every", type=float, default=2.0,
                        help="seconds between RSS samples (default 2)")
    parser.add_argument("--memory-tolerance", type=float, default=5.0,
                        help="percent over the first half's largest RSS allowed in the second "
                             "half and after the load (default 5)")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds between the end of the load and the 'after' RSS")
    parser.add_argument("--out", type=Path, default=None,
                        help="run directory (default target/soak/<timestamp>)")
    parser.add_argument("--keep-tokens", action="store_true",
                        help="keep the minted token files in the run directory")
    parser.add_argument("--rejudge", type=Path, default=None, metavar="RUN_DIR",
                        help="no load: compute the verdicts of a recorded run again (with this "
                             "version's criteria) and rewrite its report.md")
    args = parser.parse_args()
    if args.rejudge:
        return rejudge(args.rejudge, args.memory_tolerance)
    if args.quick and "--duration" not in sys.argv[1:]:
        args.duration = 60.0

    out = args.out or ROOT / "target" / "soak" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    latest = ROOT / "target" / "soak" / "latest"
    if out.parent == latest.parent:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(out.name)
    meta = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine(),
            "loadavg_before": loadavg(), "rss_every_s": args.rss_every,
            "argv": sys.argv[1:]}
    log(f"run directory {out}")
    modes = ["steady", "rotation"] if args.mode == "both" else [args.mode]
    results = []
    try:
        for mode in modes:
            result = run_mode(mode, args, out)
            result["verdicts"] = verdicts(result, args.memory_tolerance)
            results.append(result)
            for v in result["verdicts"]:
                log(f"{mode}: {v['name']}: {'holds' if v['holds'] else 'FAILS'} "
                    f"({v['measured']})")
    except (RuntimeError, OSError, json.JSONDecodeError, KeyError) as e:
        log(f"the run could not be made: {e}")
        return 2
    meta["loadavg_after"] = loadavg()
    (out / "results.json").write_text(json.dumps({"meta": meta, "runs": results}, indent=1))
    text = render(results, meta)
    (out / "report.md").write_text(text)
    print(text)
    log(f"report: {out / 'report.md'}")
    return 0 if all(v["holds"] for r in results for v in r["verdicts"]) else 1


if __name__ == "__main__":
    sys.exit(main())
