#!/usr/bin/env python3
"""The HTTP load benchmark of oidc-actix; run it through tests/load/run.sh (see BENCHMARKS.md).

It starts the mock provider (tests/load/mock_idp.rs, which also mints the tokens) and the
application under load (tests/load/bench_app.rs; with --python also py-oidc-auth under FastAPI and
Flask, tests/load/py_app.py), then drives them with wrk (tests/load/wrk.lua) through every
scenario, round-robin, for several rounds. Each measurement is one JSON line in
results.jsonl of the run's directory (target/load/<timestamp>/); report.py turns them into
report.md. Everything listens on 127.0.0.1 only; every load lasts --duration seconds.

Standard library only, so it runs with the system's python3.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import report

ROOT = Path(__file__).resolve().parents[2]
LOAD = ROOT / "tests" / "load"
EXAMPLES = ROOT / "target" / "release" / "examples"
VENV = ROOT / "target" / "load-venv"
WRK_SCRIPT = LOAD / "wrk.lua"
COLD_START_REQUESTS = 32


@dataclass(frozen=True)
class Scenario:
    key: str
    path: str
    tokens: Optional[str]  # token file of mock_idp, None: no Authorization header
    expect: int
    rust_only: bool = False
    # Every request should carry a token not sent before (the file holds many).
    fresh_tokens: bool = False
    # "wrk": one client; "pair": this client (16 connections) beside a second one (16
    # connections) sending `beside`; "cold": a fresh process and 32 concurrent first requests;
    # "alternating": one client alternating in PHASE_MS slices between this request (side A)
    # and `other` (side B), counting the requests of each slice (see wrk.lua);
    # "alternating_pair": this client (16 connections, the same request throughout) beside a
    # second one (16 connections) alternating between `beside` (A) and `other` (B).
    kind: str = "wrk"
    beside: Optional[tuple[str, Optional[str], int]] = None
    other: Optional[tuple[str, Optional[str], int]] = None


SCENARIOS = [
    Scenario("cold", "/protected", "rs256.txt", 200, kind="cold"),
    Scenario("unprotected", "/public", None, 200),
    # The same request as "reused" (the token's ~800 header bytes are read, parsed and ignored),
    # so the ratio of the two isolates what the protection costs from what the bigger request
    # costs the kernel and the HTTP parser.
    Scenario("unprotected_token", "/public", "rs256.txt", 200),
    Scenario("baseline", "/baseline", "distinct-rs256.txt", 200, rust_only=True,
             fresh_tokens=True),
    Scenario("reused", "/protected", "rs256.txt", 200),
    Scenario("distinct", "/protected", "distinct-rs256.txt", 200, fresh_tokens=True),
    # py-oidc-auth verifies RS256 only: an ES256 token is always 401 there.
    Scenario("es256", "/protected", "distinct-es256.txt", 200, rust_only=True,
             fresh_tokens=True),
    Scenario("claims", "/admin", "claims.txt", 200),
    Scenario("missing", "/protected", None, 401),
    Scenario("badsig", "/protected", "badsig.txt", 401),
    Scenario("flood", "/protected", "unknown-kid.txt", 401),
    Scenario("control", "/protected", "rs256.txt", 200, kind="pair",
             beside=("/protected", None, 401)),
    Scenario("during_flood", "/protected", "rs256.txt", 200, kind="pair",
             beside=("/protected", "unknown-kid.txt", 401)),
    # The target ratios measured in alternating slices (BENCHMARKS.md, "Targets"): both sides
    # meet the same machine, which separate 10 s loads do not on a shared host.
    # The instrument itself: the same request on both sides must measure 1.
    Scenario("alt_same", "/public", "rs256.txt", 200, rust_only=True, kind="alternating",
             other=("/public", "rs256.txt", 200)),
    Scenario("alt_hit", "/protected", "rs256.txt", 200, rust_only=True, kind="alternating",
             other=("/public", "rs256.txt", 200)),
    # Information for the cache-hit target: the leanest cache hit a hand-written extractor has
    # (bench_app.rs, CachedBaselineToken), against the unprotected route and against the
    # library's cache hit.
    Scenario("alt_hit_floor", "/baseline-cached", "rs256.txt", 200, rust_only=True,
             kind="alternating", other=("/public", "rs256.txt", 200)),
    Scenario("alt_hit_cached", "/protected", "rs256.txt", 200, rust_only=True,
             kind="alternating", other=("/baseline-cached", "rs256.txt", 200)),
    Scenario("alt_missing", "/protected", None, 401, rust_only=True, kind="alternating",
             other=("/public", None, 200)),
    Scenario("alt_new", "/protected", "distinct-rs256.txt", 200, rust_only=True,
             kind="alternating", other=("/baseline", "distinct-rs256.txt", 200)),
    Scenario("alt_flood", "/protected", "rs256.txt", 200, rust_only=True,
             kind="alternating_pair", beside=("/protected", "unknown-kid.txt", 401),
             other=("/protected", None, 401)),
]

# The slice of an alternating measurement: long enough that the 32 requests in flight at a
# switch are under 1 % of a slice's requests, short enough that the host's speed (which jumps
# every 0.1–5 s here) is nearly the same for the two sides of a ratio.
PHASE_MS = 100

# The CPUs of the load generator and of the applications under load when they are kept apart
# (--pin-client, and the Python comparison of --python), as taskset lists ("0", "1").
CPU_SPLIT: Optional[dict[str, str]] = None

# The scenarios of the Python comparison with the client on its own CPUs (--python): wrk's own
# CPU per request is about that of oidc-actix's server, so on shared CPUs the load generator,
# not the server, bounds oidc-actix's requests/s, and the ratio to py-oidc-auth with it
# (BENCHMARKS.md, "The Python comparison").
COMPARISON = ["reused"]


def pinned(argv: list[str], side: str, pin: bool) -> list[str]:
    """`argv` confined to the CPUs of `side` ("client" or "server") if `pin`."""
    return ["taskset", "-c", CPU_SPLIT[side], *argv] if pin else argv


def split_cpus() -> dict[str, str]:
    """The first half of this process's CPUs for the client, the rest for the server."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("--pin-client needs at least 2 CPUs")
    half = len(cpus) // 2
    return {"client": ",".join(map(str, cpus[:half])),
            "server": ",".join(map(str, cpus[half:]))}

# The scenarios each target ratio compares run back to back: the machine's speed drifts over
# minutes (other guests on the host; wrk's own CPU per request moved by 25 % between scenarios
# of one run), and a ratio of two loads a minute apart measured the drift as much as the
# library. Each chain keeps every compared pair adjacent; odd rounds run the chains forwards
# and even rounds backwards (A B, then B A: a steady drift favours neither side), and the order
# of the chains rotates from round to round.
CHAINS = [
    ["unprotected", "missing"],
    ["reused", "unprotected_token", "distinct", "baseline"],
    ["control", "during_flood"],
    ["claims", "es256", "badsig", "flood"],
    ["alt_same", "alt_hit", "alt_hit_floor", "alt_hit_cached", "alt_missing", "alt_new",
     "alt_flood"],
]


def round_order(round_no: int) -> list[Scenario]:
    """The warm scenarios of a round (1-based), in the order described at CHAINS."""
    by_key = {s.key: s for s in SCENARIOS}
    shift = (round_no - 1) % len(CHAINS)
    chains = CHAINS[shift:] + CHAINS[:shift]
    backwards = round_no % 2 == 0
    return [by_key[key] for chain in chains
            for key in (reversed(chain) if backwards else chain)]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, path: str, headers: Optional[dict] = None, timeout: float = 10.0):
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- processes -------------------------------------------------------------------------------

def descendants(pid: int) -> list[int]:
    """`pid` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return ticks / os.sysconf("SC_CLK_TCK")


class Process:
    """A child in a session of its own, so it and its workers stop together."""

    def __init__(self, name: str, argv: list[str], logs: Path, cwd: Path = ROOT,
                 env: Optional[dict] = None, stdin=subprocess.DEVNULL):
        self.name = name
        self.log_path = logs / f"{name}.log"
        self.log_file = open(self.log_path, "ab")
        # No __pycache__ next to py_app.py in the source tree.
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **(env or {})}
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=stdin,
            stdout=subprocess.PIPE, stderr=self.log_file, start_new_session=True)

    def first_line(self, timeout: float) -> dict:
        """The JSON line the process prints when it is ready."""
        result: list = []
        reader = threading.Thread(
            target=lambda: result.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not result or not result[0]:
            self.stop()
            raise RuntimeError(f"{self.name} did not start; see {self.log_path}")
        return json.loads(result[0])

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log_file.close()


class MockIdp:
    def __init__(self, logs: Path, tokens: Path, distinct: int, forged: int):
        log(f"mock IdP: minting {distinct} RS256 + {distinct} ES256 + {forged} unknown-kid tokens")
        self.process = Process(
            "mock_idp",
            [str(EXAMPLES / "mock_idp"), "--tokens", str(tokens), "--distinct", str(distinct),
             "--forged", str(forged), "--stdin-eof-stops"],
            logs, stdin=subprocess.PIPE)
        self.info = self.process.first_line(timeout=900)
        self.tokens = tokens
        log(f"mock IdP: {self.info['issuer']}, {self.info['minted']} tokens minted in "
            f"{self.info['mint_seconds']:.1f} s")

    def counts(self) -> dict:
        status, body = http_get(self.info["admin_url"], "/counts")
        assert status == 200, status
        return json.loads(body)

    def token(self, name: str) -> str:
        return (self.tokens / name).read_text().split("\n", 1)[0]

    def stop(self) -> None:
        self.process.stop()


class Target:
    """One application under load; (re)started for every cold start. With `pin_client` it
    runs on the server's CPUs and its load generator on the client's."""

    name = ""
    label = ""
    workers = 2

    def __init__(self, idp: MockIdp, logs: Path, pin_client: bool = False,
                 twin: bool = False):
        self.idp, self.logs = idp, logs
        self.pin_client = pin_client
        # A twin measures the Python comparison pinned beside a run that is not.
        if twin:
            self.name, self.label = f"{self.name}-pinned", f"{self.label}, client pinned"
        self.process: Optional[Process] = None
        self.url = ""

    def command(self) -> tuple[list[str], Path, dict]:
        raise NotImplementedError

    def start(self) -> None:
        argv, cwd, env = self.command()
        self.process = Process(self.name, pinned(argv, "server", self.pin_client), self.logs,
                               cwd=cwd, env=env)
        self.wait_ready()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.process.log_path}")
            try:
                if http_get(self.url, "/public", timeout=2)[0] == 200 and \
                        len(self.pids()) > self.expected_processes():
                    time.sleep(self.settle)
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /public; see {self.process.log_path}")

    settle = 0.0

    def expected_processes(self) -> int:
        return 0

    def pids(self) -> list[int]:
        return descendants(self.process.proc.pid) if self.process else []

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process:
            self.process.stop()
            self.process = None


class RustTarget(Target):
    name, label = "oidc-actix", "oidc-actix"

    def start(self) -> None:
        self.process = Process(
            self.name,
            pinned([str(EXAMPLES / "bench_app"), "--discovery-url",
                    self.idp.info["discovery_url"]], "server", self.pin_client),
            self.logs)
        self.url = self.process.first_line(timeout=30)["url"]
        self.wait_ready()


class FastApiTarget(Target):
    name, label = "fastapi", "py-oidc-auth FastAPI"
    settle = 1.0

    def command(self):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        return ([str(VENV / "bin" / "uvicorn"), "py_app:make_fastapi", "--factory",
                 "--workers", str(self.workers), "--host", "127.0.0.1", "--port", str(port),
                 "--no-access-log", "--log-level", "warning"],
                LOAD, {"BENCH_DISCOVERY_URL": self.idp.info["discovery_url"]})

    def expected_processes(self) -> int:
        return self.workers  # the supervisor and its workers


class FlaskTarget(Target):
    name, label = "flask", "py-oidc-auth Flask"
    settle = 1.0

    def command(self):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        return ([str(VENV / "bin" / "gunicorn"), "--workers", str(self.workers),
                 "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                 "py_app:make_flask()"],
                LOAD, {"BENCH_DISCOVERY_URL": self.idp.info["discovery_url"]})

    def expected_processes(self) -> int:
        return self.workers


# --- load ------------------------------------------------------------------------------------

def start_wrk(target: Target, path: str, tokens: Optional[Path], threads: int,
              connections: int, duration: float,
              alternate: Optional[tuple[str, Optional[Path]]] = None) -> subprocess.Popen:
    """wrk on one request, or alternating in PHASE_MS slices with `alternate` (path, tokens)."""
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "5s",
            "-s", str(WRK_SCRIPT), target.url + path, "--", str(tokens) if tokens else "-",
            str(threads)]
    if alternate:
        path_b, tokens_b = alternate
        argv += [path_b, str(tokens_b) if tokens_b else "-", str(PHASE_MS)]
    return subprocess.Popen(pinned(argv, "client", target.pin_client), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish_wrk(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON "):])
    raise RuntimeError(f"wrk printed no result (exit {proc.returncode}):\n{out}\n{err}")


def summarize(raw: dict, expect: int, fresh_tokens: bool = False) -> dict:
    seconds = raw["duration_us"] / 1e6
    errors = raw["errors"]
    # wrk counts every status above 399 as a status error.
    wrong = errors["status"] if expect < 400 else raw["requests"] - errors["status"]
    socket_errors = errors["connect"] + errors["read"] + errors["write"] + errors["timeout"]
    tokens = raw["tokens"]
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds if seconds else 0.0,
        "p50_ms": raw["latency_us"]["p50"] / 1000,
        "p90_ms": raw["latency_us"]["p90"] / 1000,
        "p99_ms": raw["latency_us"]["p99"] / 1000,
        "max_ms": raw["latency_us"]["max"] / 1000,
        "wrong_status": wrong,
        "socket_errors": socket_errors,
        "tokens": tokens,
        # The share of requests whose token had not been sent before in this scenario.
        "first_use": (min(1.0, tokens / raw["requests"])
                      if fresh_tokens and raw["requests"] else None),
    }


def token_path(idp: MockIdp, name: Optional[str]) -> Optional[Path]:
    return idp.tokens / name if name else None


def phase_ratio(raw: dict, connections: int, expect: tuple[int, int]) -> dict:
    """Side A's requests per slice ÷ side B's, over the whole slices of an alternating wrk run
    (even phase numbers are A), with the spread of the ratio over ten consecutive blocks and a
    check of the statuses: wrk counts every status above 399, so the count must match the
    requests sent on the sides expecting one, within the requests unanswered when wrk stops
    (one in flight per connection, and a few formatted as it stops). A coarse check: it finds
    a route answering the wrong status, not a single wrong answer (the one-request scenarios
    count those exactly)."""
    phases = raw["phases"]
    sent = [sum(n for k, n in phases if k % 2 == side) for side in (0, 1)]
    erring = sum(sent[side] for side in (0, 1) if expect[side] >= 400)
    whole = phases[1:-1]

    def ratio(slices: list) -> Optional[float]:
        a = [n for k, n in slices if k % 2 == 0]
        b = [n for k, n in slices if k % 2 == 1]
        if not a or not b or not sum(b):
            return None
        return (sum(a) / len(a)) / (sum(b) / len(b))

    blocks = [ratio(whole[i * len(whole) // 10:(i + 1) * len(whole) // 10]) for i in range(10)]
    blocks = [r for r in blocks if r is not None]

    def rps(side: int) -> float:
        counts = [n for k, n in whole if k % 2 == side]
        return sum(counts) / (PHASE_MS / 1000 * max(1, len(counts)))

    return {
        "ratio": ratio(whole),
        "ratio_blocks": blocks,
        "phases": len(whole),
        "slices": whole,
        "rps_a": rps(0),
        "rps_b": rps(1),
        "sent": sent,
        "wrong_status": max(0, abs(raw["errors"]["status"] - erring) - 2 * connections),
    }


def settle(target: Target, idp: MockIdp, limit: float = 60.0) -> float:
    """Waits until the target is idle (a previous load can leave a backlog of queued requests,
    which would otherwise run into the next measurement): its CPU time and the provider's
    request count stop moving. Returns the seconds waited."""
    began = time.monotonic()
    last = (idp.counts()["total"], cpu_seconds(target.pids()))
    while time.monotonic() - began < limit:
        time.sleep(0.3)
        now = (idp.counts()["total"], cpu_seconds(target.pids()))
        if now[0] == last[0] and now[1] - last[1] <= 0.02:
            break
        last = now
    return time.monotonic() - began


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(target: Target, idp: MockIdp, scenario: Scenario, args) -> dict:
    settled = settle(target, idp)
    pids = target.pids()
    before, cpu_before, client_before = idp.counts(), cpu_seconds(pids), children_cpu()
    began = time.monotonic()
    if scenario.kind == "alternating":
        path, tokens, expect_b = scenario.other
        raw = finish_wrk(start_wrk(target, scenario.path, token_path(idp, scenario.tokens),
                                   args.threads, args.connections, args.duration,
                                   alternate=(path, token_path(idp, tokens))))
        result = {**summarize(raw, 200), **phase_ratio(raw, args.connections,
                                                       (scenario.expect, expect_b))}
        total_requests = result["requests"]
    elif scenario.kind == "alternating_pair":
        # The valid client sends the same request in both kinds of slice and counts its
        # requests per slice; the flood beside it switches with it (the same clock).
        half = max(1, args.connections // 2)
        valid_tokens = token_path(idp, scenario.tokens)
        valid = start_wrk(target, scenario.path, valid_tokens, 1, half, args.duration,
                          alternate=(scenario.path, valid_tokens))
        (path, tokens, expect_a), (path_b, tokens_b, expect_b) = scenario.beside, scenario.other
        other = start_wrk(target, path, token_path(idp, tokens), 1, half, args.duration,
                          alternate=(path_b, token_path(idp, tokens_b)))
        raw = finish_wrk(valid)
        result = {**summarize(raw, scenario.expect),
                  **phase_ratio(raw, half, (scenario.expect, scenario.expect))}
        raw_other = finish_wrk(other)
        result["beside"] = {**summarize(raw_other, expect_a),
                            **phase_ratio(raw_other, half, (expect_a, expect_b))}
        total_requests = result["requests"] + result["beside"]["requests"]
    elif scenario.kind == "pair":
        half = max(1, args.connections // 2)
        valid = start_wrk(target, scenario.path, token_path(idp, scenario.tokens), 1, half,
                          args.duration)
        path, tokens, beside_expect = scenario.beside
        other = start_wrk(target, path, token_path(idp, tokens), 1, half, args.duration)
        result = summarize(finish_wrk(valid), scenario.expect)
        result["beside"] = summarize(finish_wrk(other), beside_expect)
        total_requests = result["requests"] + result["beside"]["requests"]
    else:
        result = summarize(
            finish_wrk(start_wrk(target, scenario.path, token_path(idp, scenario.tokens),
                                 args.threads, args.connections, args.duration)),
            scenario.expect, scenario.fresh_tokens)
        total_requests = result["requests"]
    elapsed = time.monotonic() - began
    pids = target.pids()
    after, cpu_after, client_after = idp.counts(), cpu_seconds(pids), children_cpu()
    result["idp"] = {k: after[k] - before[k] for k in after}
    result["rss_kib"] = rss_kib(pids)
    result["server_cpu_s"] = cpu_after - cpu_before
    result["cpu_us_per_request"] = (
        (cpu_after - cpu_before) * 1e6 / total_requests if total_requests else None)
    # wrk's own CPU time: on 2 cores the client competes with the server.
    result["client_cpu_us_per_request"] = (
        (client_after - client_before) * 1e6 / total_requests if total_requests else None)
    result["elapsed_s"] = elapsed
    result["settled_s"] = settled
    return result


def cold_start(target: Target, idp: MockIdp, scenario: Scenario) -> dict:
    """A fresh process, then COLD_START_REQUESTS requests sent at once on open connections."""
    target.restart()
    token = idp.token(scenario.tokens)
    host, port = target.url.removeprefix("http://").split(":")
    connections = [http.client.HTTPConnection(host, int(port), timeout=30)
                   for _ in range(COLD_START_REQUESTS)]
    for conn in connections:
        conn.connect()
    before = idp.counts()
    go = threading.Barrier(COLD_START_REQUESTS + 1)
    results: list = [None] * COLD_START_REQUESTS

    def send(i: int) -> None:
        go.wait()
        began = time.perf_counter()
        try:
            connections[i].request("GET", scenario.path,
                                   headers={"Authorization": f"Bearer {token}"})
            response = connections[i].getresponse()
            response.read()
            results[i] = (response.status, time.perf_counter() - began)
        except OSError as e:
            results[i] = (f"error: {e}", time.perf_counter() - began)
        finally:
            connections[i].close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(COLD_START_REQUESTS)]
    for thread in threads:
        thread.start()
    go.wait()
    for thread in threads:
        thread.join()
    after = idp.counts()
    latencies = sorted(latency for _, latency in results)
    statuses: dict = {}
    for status, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "requests": COLD_START_REQUESTS,
        "statuses": statuses,
        "ok": statuses.get("200", 0),
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "max_ms": latencies[-1] * 1000,
        "idp": {k: after[k] - before[k] for k in after},
        "rss_kib": rss_kib(target.pids()),
    }


# --- the run ---------------------------------------------------------------------------------

def machine() -> dict:
    def first(argv: list[str]) -> str:
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "?"

    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "rustc": first(["rustc", "-V"]),
        "wrk": first(["wrk", "-v"]).split(" Copyright")[0],
        "python": first([str(VENV / "bin" / "python"), "-V"]) if VENV.exists() else None,
    }


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=10.0,
                        help="seconds of load per scenario (default 10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--python", action="store_true",
                        help="also run py-oidc-auth under FastAPI and Flask, and the comparison "
                             "with FastAPI a second time with the client pinned (see "
                             "--pin-client)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 2 rounds of 3 s (unless given explicitly)")
    parser.add_argument("--tokens-per-second", type=int, default=24000,
                        help="distinct tokens minted per second of --duration (default 24000)")
    parser.add_argument("--pin-client", action="store_true",
                        help="run wrk on the first half of the CPUs and the applications on "
                             "the rest (actix then starts one worker per CPU it may use), so "
                             "the client takes no CPU from the server; see BENCHMARKS.md")
    parser.add_argument("--out", type=Path, default=None,
                        help="run directory (default target/load/<timestamp>)")
    parser.add_argument("--keep-tokens", action="store_true",
                        help="keep the minted token files (large) in the run directory")
    args = parser.parse_args()
    if args.quick:
        explicit = set(sys.argv[1:])
        if "--rounds" not in explicit:
            args.rounds = 2
        if "--duration" not in explicit:
            args.duration = 3.0

    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk); run.sh installs it",
              file=sys.stderr)
        return 2
    global CPU_SPLIT
    # The Python comparison is also measured with the client pinned, by twins of the targets.
    twins_wanted = args.python and not args.pin_client and len(os.sched_getaffinity(0)) >= 2
    CPU_SPLIT = split_cpus() if args.pin_client or twins_wanted else None
    out = args.out or ROOT / "target" / "load" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    latest = ROOT / "target" / "load" / "latest"
    if out.parent == latest.parent:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(out.name)
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    tokens = out / "tokens"

    meta = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "rounds": args.rounds,
        "duration_s": args.duration,
        "connections": args.connections,
        "threads": args.threads,
        "pinned": CPU_SPLIT if args.pin_client else None,
        "comparison_pinned": CPU_SPLIT if twins_wanted else None,
        "cold_start_requests": COLD_START_REQUESTS,
        "jwks_refetch_cooldown_s": 30,
        "machine": machine(),
        "loadavg_before": loadavg(),
    }
    log(f"run directory {out}; load average {meta['loadavg_before']}")
    began = time.monotonic()
    distinct = max(2000, int(args.tokens_per_second * args.duration))
    idp = MockIdp(logs, tokens, distinct=distinct, forged=10000)
    meta["mint_seconds"] = idp.info["mint_seconds"]
    targets: list[Target] = [RustTarget(idp, logs, args.pin_client)]
    if args.python:
        targets += [FastApiTarget(idp, logs, args.pin_client),
                    FlaskTarget(idp, logs, args.pin_client)]
    twins: list[Target] = []
    if twins_wanted:
        twins = [RustTarget(idp, logs, True, twin=True), FastApiTarget(idp, logs, True, twin=True)]
    results_path = out / "results.jsonl"
    try:
        with open(results_path, "w") as results:
            def record(entry: dict) -> None:
                results.write(json.dumps(entry) + "\n")
                results.flush()

            record({"meta": meta})
            def warm(target: Target) -> None:
                """Warms the connections and caches up before the measured loads."""
                finish_wrk(start_wrk(target, "/protected", token_path(idp, "rs256.txt"),
                                     args.threads, args.connections, 1))

            cold = [s for s in SCENARIOS if s.kind == "cold"]
            comparison = [s for s in SCENARIOS if s.key in COMPARISON]
            for round_no in range(1, args.rounds + 1):
                order = cold + round_order(round_no)
                # The twins run back to back, each first in every other round.
                plan = [(target, order) for target in targets] + \
                    [(twin, comparison) for twin in (twins if round_no % 2 else twins[::-1])]
                for target, scenarios in plan:
                    if target.process is None and not any(s.kind == "cold" for s in scenarios):
                        target.start()
                        warm(target)
                    for scenario in scenarios:
                        if scenario.rust_only and not isinstance(target, RustTarget):
                            continue
                        if scenario.kind == "cold":
                            result = cold_start(target, idp, scenario)
                            warm(target)
                        else:
                            result = measure(target, idp, scenario, args)
                        entry = {"target": target.name, "label": target.label,
                                 "round": round_no, "scenario": scenario.key,
                                 "expect": scenario.expect, **result}
                        record(entry)
                        log(report.one_line(entry))
                for target in targets + twins:
                    target.stop()
    finally:
        for target in targets + twins:
            target.stop()
        idp.stop()
        if not args.keep_tokens:
            shutil.rmtree(tokens, ignore_errors=True)
    meta["loadavg_after"] = loadavg()
    meta["elapsed_s"] = round(time.monotonic() - began)
    entries = report.load(results_path)
    text = report.render(entries, meta)
    (out / "report.md").write_text(text)
    with open(results_path, "a") as results:
        results.write(json.dumps({"meta_end": {k: meta[k] for k in
                                               ("loadavg_after", "elapsed_s")}}) + "\n")
    print(text)
    log(f"report: {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
