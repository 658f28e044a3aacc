#!/usr/bin/env python3
"""Turns the results.jsonl of a load-benchmark run into its report (markdown): the table of
every scenario and the targets of BENCHMARKS.md, each computed from ratios within the run.

    python3 tests/load/report.py target/load/latest/results.jsonl

Standard library only.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Optional

TITLES = {
    "cold": "cold start: 32 concurrent first requests",
    "unprotected": "unprotected route",
    "unprotected_token": "unprotected route, the same request as the reused token's",
    "baseline": "hand-written extractor (jsonwebtoken), every token new",
    "reused": "valid RS256 token, reused",
    "distinct": "valid RS256, every token new",
    "es256": "valid ES256, every token new",
    "claims": "claims + scopes, reused token",
    "missing": "missing token (401)",
    "badsig": "bad signature (401)",
    "flood": "unknown-kid flood alone (401)",
    "control": "valid reused, beside a missing-token flood ¹",
    "during_flood": "valid reused, during an unknown-kid flood ¹",
}
ORDER = list(TITLES)
# The measurements in alternating slices (bench.py, PHASE_MS): side A ÷ side B.
ALTERNATING = {
    "alt_same": "unprotected ÷ unprotected, the same request (the instrument: 1 expected)",
    "alt_hit": "valid RS256 token, reused ÷ unprotected, the same request",
    "alt_hit_floor": "hand-written extractor with a cache, reused token ÷ unprotected, the same "
                     "request",
    "alt_hit_cached": "valid RS256 token, reused ÷ hand-written extractor with a cache, reused",
    "alt_missing": "missing token (401) ÷ unprotected (no header either)",
    "alt_new": "valid RS256, every token new ÷ hand-written extractor, every token new",
    "alt_flood": "valid reused (16 connections) beside an unknown-kid flood ÷ beside a "
                 "missing-token flood (16 connections)",
}
TARGETS = ["oidc-actix", "fastapi", "flask", "oidc-actix-pinned", "fastapi-pinned"]
# Scenarios in which a provider with cached keys must see no request at all.
STEADY = ["unprotected", "unprotected_token", "baseline", "reused", "distinct", "es256", "claims", "missing",
          "badsig", "control", "alt_same", "alt_hit", "alt_hit_floor", "alt_hit_cached",
          "alt_missing", "alt_new"]


def load(path: Path) -> list[dict]:
    """The measurements of a results.jsonl (meta lines left out)."""
    entries = []
    with open(path) as f:
        for line in f:
            entry = json.loads(line)
            if "scenario" in entry:
                entries.append(entry)
    return entries


def load_meta(path: Path) -> dict:
    meta: dict = {}
    with open(path) as f:
        for line in f:
            entry = json.loads(line)
            meta.update(entry.get("meta", {}))
            meta.update(entry.get("meta_end", {}))
    return meta


def one_line(e: dict) -> str:
    """A progress line for one measurement."""
    head = f"{e['target']:<10} round {e['round']} {e['scenario']:<12}"
    if e["scenario"] == "cold":
        return (f"{head} {e['ok']}/{e['requests']} answered 200, slowest {e['max_ms']:.1f} ms, "
                f"IdP discovery {e['idp']['discovery']} jwks {e['idp']['jwks']}")
    if "ratio" in e:
        return (f"{head} A ÷ B {e['ratio']:.3f} ({e['rps_a']:,.0f} ÷ {e['rps_b']:,.0f} req/s, "
                f"{e['phases']} slices)  IdP {e['idp']['total']}"
                + (f"  WRONG STATUS x{e['wrong_status']}" if e["wrong_status"] else ""))
    text = (f"{head} {e['rps']:>9,.0f} req/s  p50 {e['p50_ms']:.2f} ms  p99 {e['p99_ms']:.2f} ms"
            f"  IdP {e['idp']['total']}  RSS {e['rss_kib'] / 1024:.1f} MiB")
    if "beside" in e:
        text += f"  (beside: {e['beside']['rps']:,.0f} req/s)"
    if e["wrong_status"]:
        text += f"  WRONG STATUS x{e['wrong_status']}"
    return text


def by(entries: list[dict], target: str, scenario: str) -> list[dict]:
    return sorted((e for e in entries if e["target"] == target and e["scenario"] == scenario),
                  key=lambda e: e["round"])


def per_round_ratio(entries, target_a, scenario_a, target_b, scenario_b,
                    key_a=lambda e: e["rps"], key_b=lambda e: e["rps"]) -> list[float]:
    """a ÷ b for every round that has both."""
    b = {e["round"]: e for e in by(entries, target_b, scenario_b)}
    return [key_a(e) / key_b(b[e["round"]]) for e in by(entries, target_a, scenario_a)
            if e["round"] in b and key_b(b[e["round"]])]


def median(values: list[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def spread(values: list[float], fmt: str) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return format(values[0], fmt)
    return (f"{format(statistics.median(values), fmt)} "
            f"[{format(min(values), fmt)}–{format(max(values), fmt)}]")


def idp_cell(rows: list[dict]) -> str:
    def one(e: dict) -> str:
        d = e["idp"]
        if d["total"] == 0:
            return "0"
        parts = []
        if d["discovery"]:
            parts.append(f"{d['discovery']} disc")
        if d["jwks"]:
            parts.append(f"{d['jwks']} JWKS")
        other = d["total"] - d["discovery"] - d["jwks"]
        if other:
            parts.append(f"{other} other")
        return " + ".join(parts)
    return " · ".join(one(e) for e in rows)


def scenario_table(entries: list[dict], target: str) -> list[str]:
    lines = [
        "| scenario | requests/s median [min–max] | p50 ms | p99 ms | ÷ unprotected "
        "| IdP requests, per round | server CPU µs/req | wrk CPU µs/req | RSS MiB after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for scenario in ORDER:
        rows = by(entries, target, scenario)
        if not rows:
            continue
        title = TITLES[scenario]
        rss = spread([e["rss_kib"] / 1024 for e in rows], ".1f")
        if scenario == "cold":
            ok = " · ".join(f"{e['ok']}/{e['requests']}" for e in rows)
            lines.append(
                f"| {title} | answered 200: {ok} | {spread([e['p50_ms'] for e in rows], '.1f')} "
                f"| {spread([e['max_ms'] for e in rows], '.1f')} (slowest) | — "
                f"| {idp_cell(rows)} | — | — | {rss} |")
            continue
        ratio = "—"
        if scenario not in ("control", "during_flood", "unprotected"):
            ratio = spread(per_round_ratio(entries, target, scenario, target, "unprotected"),
                           ".2f")
        elif scenario == "unprotected":
            ratio = "1"
        cpu = [e["cpu_us_per_request"] for e in rows if e.get("cpu_us_per_request")]
        client = [e["client_cpu_us_per_request"] for e in rows
                  if e.get("client_cpu_us_per_request")]
        lines.append(
            f"| {title} | {spread([e['rps'] for e in rows], ',.0f')} "
            f"| {spread([e['p50_ms'] for e in rows], '.2f')} "
            f"| {spread([e['p99_ms'] for e in rows], '.2f')} | {ratio} | {idp_cell(rows)} "
            f"| {spread(cpu, '.1f')} | {spread(client, '.1f')} | {rss} |")
    return lines


def flood_table(entries: list[dict], target: str) -> list[str]:
    control = by(entries, target, "control")
    during = by(entries, target, "during_flood")
    if not control and not during:
        return []
    lines = [
        "| 16 + 16 connections | valid requests/s | flood requests/s (401) | p99 ms (valid) "
        "| IdP requests, per round |",
        "|---|---|---|---|---|",
    ]
    for name, rows in (("valid + missing-token flood (control)", control),
                       ("valid + unknown-kid flood", during)):
        if rows:
            lines.append(
                f"| {name} | {spread([e['rps'] for e in rows], ',.0f')} "
                f"| {spread([e['beside']['rps'] for e in rows], ',.0f')} "
                f"| {spread([e['p99_ms'] for e in rows], '.2f')} | {idp_cell(rows)} |")
    return lines


def alternating_table(entries: list[dict]) -> list[str]:
    """Every alternating measurement of oidc-actix: the ratio of each round, with its spread
    over ten consecutive blocks of slices (min–max), and the two sides' requests/s."""
    lines = ["| A ÷ B | per round: ratio [blocks min–max] | median | A requests/s | "
             "B requests/s |", "|---|---|---|---|---|"]
    for key, title in ALTERNATING.items():
        rows = [e for e in by(entries, "oidc-actix", key) if e.get("ratio")]
        if not rows:
            continue
        rounds = " · ".join(
            f"{e['ratio']:.3f} [{min(e['ratio_blocks']):.2f}–{max(e['ratio_blocks']):.2f}]"
            for e in rows)
        lines.append(f"| {title} | {rounds} | {statistics.median(e['ratio'] for e in rows):.3f} "
                     f"| {spread([e['rps_a'] for e in rows], ',.0f')} "
                     f"| {spread([e['rps_b'] for e in rows], ',.0f')} |")
    return lines if len(lines) > 2 else []


def notes(entries: list[dict]) -> list[str]:
    out = []
    for e in entries:
        where = f"{e['target']} round {e['round']} {e['scenario']}"
        if e.get("wrong_status"):
            expected = "their side's" if "ratio" in e else str(e["expect"])
            out.append(f"- {where}: {e['wrong_status']} of {e['requests']} responses had "
                       f"another status than {expected}")
        if e.get("socket_errors"):
            out.append(f"- {where}: {e['socket_errors']} socket errors or timeouts (wrk)")
        beside = e.get("beside")
        if beside and beside.get("wrong_status"):
            out.append(f"- {where}: {beside['wrong_status']} flood responses had another "
                       "status than expected")
        if e.get("first_use") is not None and e["first_use"] < 1:
            out.append(f"- {where}: only {e['first_use']:.1%} of the requests carried a token "
                       f"not sent before ({e['tokens']} tokens for {e['requests']} requests; "
                       f"raise --tokens-per-second)")
        if e["scenario"] == "cold" and e["ok"] != e["requests"]:
            out.append(f"- {where}: statuses {e['statuses']}")
    return out


def verdict(value: Optional[float], limit: float, at_least: bool) -> str:
    if value is None:
        return "not measured"
    return "**holds**" if (value >= limit if at_least else value <= limit) else "**misses**"


def targets_table(entries: list[dict], meta: dict) -> list[str]:
    rust = "oidc-actix"
    rows: list[tuple[str, str, str, str]] = []

    def cpu_row(name, a, b, target_b=rust):
        """The ratio a ÷ b from the server's CPU time per request (b's cost ÷ a's)."""
        cost = lambda e: e["cpu_us_per_request"]  # noqa: E731
        by_cpu = per_round_ratio(entries, target_b, b, rust, a, cost, cost)
        if by_cpu:
            rows.append((name, spread(by_cpu, ".2f"), "—", "—"))

    def ratio_row(name, a, b, limit, target_b=rust, cpu_too=True):
        values = per_round_ratio(entries, rust, a, target_b, b)
        value = median(values)
        rows.append((name, "—" if value is None else spread(values, ".2f"), f"≥ {limit:g}",
                     verdict(value, limit, True)))
        if cpu_too and values:
            cpu_row("  the same, by server CPU per request (information)", a, b, target_b)

    def info_row(name, a, b):
        values = per_round_ratio(entries, rust, a, rust, b)
        if values:
            rows.append((name, spread(values, ".2f"), "—", "—"))

    def alternating_row(name, key, limit=None) -> bool:
        """The target from the alternating measurement, if the run has one (information
        without a limit)."""
        values = [e["ratio"] for e in by(entries, rust, key) if e.get("ratio")]
        if values:
            rows.append((name, spread(values, ".3f"),
                         "—" if limit is None else f"≥ {limit:g}",
                         "—" if limit is None else verdict(median(values), limit, True)))
        return bool(values)

    def target_row(name, key, a, b, limit):
        """A target ratio: from the alternating measurement when the run has it (the separate
        loads then give information), from separate loads otherwise (runs before it)."""
        if alternating_row(f"{name}, in alternating slices", key, limit):
            values = per_round_ratio(entries, rust, a, rust, b)
            if values:
                rows.append((f"  the same from separate {meta.get('duration_s', 10):g} s "
                             "loads (information)", spread(values, ".2f"), "—", "—"))
            cpu_row("  the same from separate loads, by server CPU per request (information)",
                    a, b)
        else:
            ratio_row(name, a, b, limit)

    # A request with a token is ~800 bytes bigger than one without; the unprotected route is
    # measured both ways, and a route is compared with the unprotected route receiving the same
    # request (see BENCHMARKS.md, "Targets").
    target_row("cache hit ÷ unprotected, same request", "alt_hit", "reused",
               "unprotected_token", 0.95)
    alternating_row("  the leanest cache: hand-written extractor with a cache ÷ unprotected, "
                    "in alternating slices (information)", "alt_hit_floor")
    alternating_row("  cache hit ÷ hand-written extractor with a cache, in alternating slices "
                    "(information)", "alt_hit_cached")
    info_row("cache hit ÷ unprotected without the token header (information)", "reused",
             "unprotected")
    target_row("missing token ÷ unprotected (same request: no header)", "alt_missing",
               "missing", "unprotected", 0.95)
    ratio_row("every token new ÷ unprotected, same-size request", "distinct",
              "unprotected_token", 0.30)
    info_row("every token new ÷ unprotected without the token header (information)",
             "distinct", "unprotected")
    target_row("every token new ÷ hand-written extractor", "alt_new", "distinct", "baseline",
               1.0)
    info_row("the token header's cost: unprotected with ÷ without (information)",
             "unprotected_token", "unprotected")
    fastapi = "oidc-actix ÷ py-oidc-auth FastAPI, valid reused token"
    pinned = per_round_ratio(entries, "oidc-actix-pinned", "reused", "fastapi-pinned", "reused")
    if pinned:
        # wrk on its own CPU: on shared CPUs its own CPU per request bounds oidc-actix's
        # requests/s near that of any actix route (BENCHMARKS.md, "The Python comparison").
        rows.append((f"{fastapi}, client pinned", spread(pinned, ".1f"), "≥ 25",
                     verdict(median(pinned), 25, True)))
        shared = per_round_ratio(entries, rust, "reused", "fastapi", "reused")
        if shared:
            rows.append(("  the same with wrk on the servers' CPUs (information)",
                         spread(shared, ".1f"), "—", "—"))
    elif by(entries, "fastapi", "reused"):
        ratio_row(fastapi, "reused", "reused", 25, target_b="fastapi", cpu_too=False)
    cpu = lambda e: e["cpu_us_per_request"]  # noqa: E731
    for python, name in (("fastapi", "FastAPI"), ("flask", "Flask")):
        if not by(entries, python, "reused"):
            continue
        if python == "flask":
            values = per_round_ratio(entries, rust, "reused", python, "reused")
            rows.append((f"oidc-actix ÷ py-oidc-auth {name}, valid reused token (information)",
                         spread(values, ".1f"), "—", "—"))
        values = per_round_ratio(entries, python, "reused", rust, "reused", cpu, cpu)
        rows.append((f"server CPU per request, py-oidc-auth {name} ÷ oidc-actix, valid reused "
                     "token (information)", spread(values, ".1f"), "—", "—"))

    duration = meta.get("duration_s", 10)
    cooldown = meta.get("jwks_refetch_cooldown_s", 30)
    allowed = 1 + int(duration // cooldown)
    floods = by(entries, rust, "flood") + by(entries, rust, "during_flood") + \
        by(entries, rust, "alt_flood")
    if floods:
        fetches = [e["idp"]["jwks"] for e in floods]
        worst = max(fetches)
        rows.append((f"JWKS fetches per {duration:g} s unknown-kid flood (cooldown {cooldown} s)",
                     f"max {worst} (per flood: {', '.join(map(str, fetches))})",
                     f"≤ {allowed}", verdict(worst, allowed, False)))
    flood_name = "valid traffic during the flood ÷ without (beside a missing-token flood)"
    values = per_round_ratio(entries, rust, "during_flood", rust, "control")
    if alternating_row(f"{flood_name}, in alternating slices", "alt_flood", 0.8):
        if values:
            rows.append((f"  the same from separate {duration:g} s loads (information)",
                         spread(values, ".2f"), "—", "—"))
    else:
        rows.append((flood_name, spread(values, ".2f") if values else "—", "≥ 0.8",
                     verdict(median(values), 0.8, True)))
    cold = by(entries, rust, "cold")
    if cold:
        exact = all(e["idp"]["discovery"] == 1 and e["idp"]["jwks"] == 1
                    and e["ok"] == e["requests"] for e in cold)
        seen = " · ".join(f"{e['idp']['discovery']}+{e['idp']['jwks']}, {e['ok']}/{e['requests']}"
                          for e in cold)
        rows.append(("cold start: discovery + JWKS fetches, answered 200", seen,
                     "exactly 1+1, all 200", "**holds**" if exact else "**misses**"))
    steady = [e for s in STEADY for t in (rust, "oidc-actix-pinned") for e in by(entries, t, s)]
    if steady:
        total = sum(e["idp"]["total"] for e in steady)
        rows.append(("IdP requests in steady state (every scenario with known keys)", str(total),
                     "0", verdict(total, 0, False)))
    reused = by(entries, rust, "reused")
    if reused:
        p99 = [e["p99_ms"] for e in reused]
        rows.append((f"p99 at {meta.get('connections', 32)} connections, valid reused token (ms)",
                     spread(p99, ".2f"), "≤ 6", verdict(median(p99), 6, False)))
        # On shared cores the tail is the scheduler's (wrk and the workers take turns on the
        # cores): the unprotected route's p99 in the same run tells the machine's share.
        for target, scenario, name in (
                (rust, "unprotected_token", "  the unprotected route, the same request"),
                ("oidc-actix-pinned", "reused", "  the same with the client pinned")):
            tail = [e["p99_ms"] for e in by(entries, target, scenario)]
            if tail:
                rows.append((f"{name} (information)", spread(tail, ".2f"), "—", "—"))
    distinct = by(entries, rust, "distinct")
    if distinct:
        rss = [e["rss_kib"] / 1024 for e in distinct]
        rows.append(("RSS after the every-token-new scenario (MiB, defaults)",
                     f"max {max(rss):.1f}", "≤ 32", verdict(max(rss), 32, False)))
    lines = ["| target | measured (median [min–max] over rounds) | limit | |",
             "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return lines


def render(entries: list[dict], meta: dict) -> str:
    m = meta.get("machine", {})
    out = [
        "## Results",
        "",
        f"Run of {meta.get('started', '?')}: {meta.get('rounds')} rounds × "
        f"{meta.get('duration_s'):g} s per scenario, {meta.get('connections')} connections "
        f"({meta.get('threads')} wrk threads), in {meta.get('elapsed_s', '?')} s. "
        + (f"**Client pinned**: wrk on CPU {meta['pinned']['client']}, the applications on "
           f"CPU {meta['pinned']['server']} (`--pin-client`). " if meta.get("pinned") else "")
        + (f"The Python comparison is measured a second time with wrk on CPU "
           f"{meta['comparison_pinned']['client']} and the applications on CPU "
           f"{meta['comparison_pinned']['server']} (the \"client pinned\" tables). "
           if meta.get("comparison_pinned") else "")
        + f"Machine: {m.get('nproc')} × {m.get('cpu')}, {m.get('memory_gib')} GiB, "
        f"Linux {m.get('kernel')}; {m.get('rustc')}; {m.get('wrk')}"
        + (f"; {m['python']}" if m.get("python") else "") + ". "
        f"Load average before {meta.get('loadavg_before', '?')}, after "
        f"{meta.get('loadavg_after', '?')}.",
        "",
        "### Targets",
        "",
        *targets_table(entries, meta),
        "",
    ]
    alternating = alternating_table(entries)
    if alternating:
        out += ["### Alternating measurements (oidc-actix)", "", *alternating, ""]
    names = {e["target"]: e.get("label", e["target"]) for e in entries}
    for target in TARGETS:
        if target not in names:
            continue
        out += [f"### {names[target]}", "", *scenario_table(entries, target), ""]
        flood = flood_table(entries, target)
        if flood:
            out += [*flood, ""]
    out += ["¹ 16 connections of valid requests beside 16 connections of flood; the requests/s "
            "column counts the valid ones only.", ""]
    problems = notes(entries)
    if problems:
        out += ["### Notes", "", *problems, ""]
    return "\n".join(out)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(sys.argv[1])
    print(render(load(path), load_meta(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
