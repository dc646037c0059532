"""The built-in benchmark: genai-bench's traffic and result files, without genai-bench.

Streams `/v1/chat/completions` for every traffic scenario x concurrency level,
`max_requests_per_iteration` requests or `max_time_per_iteration` minutes per run,
whichever ends first, and writes one genai-bench-shaped file per run
(`D100_100_text-to-text_num_concurrency_4_time_3s.json` with `aggregated_metrics` and
`individual_request_metrics`), so the same parser reads both runners' output.

One thread per concurrent user, each on the blocking httpx client: the client's own
cost is part of every latency it measures, and asyncio's httpx spent twice the CPU per
token, so on a busy host its latencies grew with the number of streams (a 7-slot
server measured as slow as a 5-slot one).
"""

from __future__ import annotations

import json
import math
import random
import re
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import httpx

from servedeck.tuner.task import Benchmark

PERCENTILES = (25, 50, 75, 90, 95, 99)
WORDS = "the quick brown fox jumps over a lazy dog while servers stream tokens".split()
RUNNER = "builtin"


@dataclass
class RequestResult:
    ok: bool
    ttft: float = 0.0
    e2e: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    error: str = ""

    @property
    def tpot(self) -> float:
        return (self.e2e - self.ttft) / (self.output_tokens - 1) if self.output_tokens > 1 else 0.0


class Scenario:
    """D(in,out) fixed; N(mean,std)/(mean,std) normal; U(lo,hi)/(lo,hi) uniform token counts."""

    def __init__(self, text: str, rng: random.Random) -> None:
        self.text, self.kind, self.rng = text, text[0], rng
        self.numbers = [float(n) for n in re.findall(r"\d+(?:\.\d+)?", text)]

    def sample(self) -> tuple[int, int]:
        n = self.numbers
        if self.kind == "D":
            return int(n[0]), int(n[1])
        if self.kind == "N":
            return (max(1, round(self.rng.gauss(n[0], n[1]))), max(1, round(self.rng.gauss(n[2], n[3]))))
        return (self.rng.randint(int(n[0]), int(n[1])), self.rng.randint(int(n[2]), int(n[3])))

    @property
    def sanitized(self) -> str:
        return self.kind + "_".join(str(int(x)) if float(x).is_integer() else str(x) for x in self.numbers)


def stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def pct(p: float) -> float:
        k = (len(ordered) - 1) * p / 100
        lo, hi = math.floor(k), math.ceil(k)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)

    out = {"min": ordered[0], "max": ordered[-1], "mean": statistics.fmean(ordered),
           "stddev": statistics.pstdev(ordered), "sum": math.fsum(ordered)}
    out.update({f"p{p}": pct(p) for p in PERCENTILES})
    return out


def one_request(client: httpx.Client, url: str, model: str, n_in: int, n_out: int,
                extra: dict[str, Any]) -> RequestResult:
    prompt = " ".join(WORDS[i % len(WORDS)] for i in range(n_in))
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": True,
            "max_tokens": n_out, "ignore_eos": True, "stream_options": {"include_usage": True}, **extra}
    started = time.monotonic()
    ttft, chunks, usage = 0.0, 0, None
    try:
        with client.stream("POST", url, json=body) as response:
            if response.status_code != 200:
                response.read()
                return RequestResult(False, error=f"HTTP {response.status_code}", input_tokens=n_in)
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                try:
                    event = json.loads(payload)
                except ValueError:
                    continue
                for choice in event.get("choices") or []:
                    if (choice.get("delta") or {}).get("content"):
                        if chunks == 0:
                            ttft = time.monotonic() - started
                        chunks += 1
                usage = event.get("usage") or usage
    except httpx.HTTPError as exc:
        return RequestResult(False, error=type(exc).__name__, input_tokens=n_in)
    e2e = time.monotonic() - started
    produced = int((usage or {}).get("completion_tokens") or chunks)
    if produced == 0:
        return RequestResult(False, error="no tokens", input_tokens=n_in)
    return RequestResult(True, ttft, e2e, int((usage or {}).get("prompt_tokens") or n_in), produced)


def run_one(base_url: str, bench: Benchmark, scenario: Scenario, concurrency: int,
            deadline_s: float, stop: Callable[[], bool] = lambda: False) -> tuple[list[RequestResult], float]:
    """`concurrency` users, each sending its next request when the last one ends, until
    the request budget or the deadline is spent."""
    url = base_url.rstrip("/") + "/v1/chat/completions"
    model = bench.model_name or "unknown"
    remaining = bench.max_requests_per_iteration
    results: list[RequestResult] = []
    claim = threading.Lock()
    failures: list[BaseException] = []  # a user's unexpected error, raised here as the old loop did
    started = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with httpx.Client(timeout=httpx.Timeout(300.0, connect=10.0), limits=limits) as client:
        def user() -> None:
            nonlocal remaining
            try:
                while not stop() and not failures and time.monotonic() - started < deadline_s:
                    with claim:  # the scenario's generator and the budget are shared
                        if remaining <= 0:
                            return
                        remaining -= 1
                        n_in, n_out = scenario.sample()
                    results.append(one_request(client, url, model, n_in, n_out, bench.additional_params))
            except Exception as exc:
                failures.append(exc)

        users = [threading.Thread(target=user, name=f"bench-user-{i}", daemon=True) for i in range(concurrency)]
        for thread in users:
            thread.start()
        for thread in users:
            thread.join()
    if failures:
        raise failures[0]
    return results, time.monotonic() - started


def aggregated(results: list[RequestResult], duration: float, scenario: Scenario, concurrency: int) -> dict[str, Any]:
    ok = [r for r in results if r.ok]
    out_tokens = sum(r.output_tokens for r in ok)
    in_tokens = sum(r.input_tokens for r in ok)
    errors: dict[str, int] = {}
    for r in results:
        if not r.ok:
            errors[r.error] = errors.get(r.error, 0) + 1
    duration = max(duration, 1e-9)
    return {
        "scenario": scenario.text, "num_concurrency": concurrency, "batch_size": 1,
        "iteration_type": "num_concurrency", "run_duration": duration,
        "mean_output_throughput_tokens_per_s": out_tokens / duration,
        "mean_input_throughput_tokens_per_s": in_tokens / duration,
        "mean_total_tokens_throughput_tokens_per_s": (in_tokens + out_tokens) / duration,
        "requests_per_second": len(ok) / duration,
        "error_codes_frequency": errors, "error_rate": (len(results) - len(ok)) / len(results) if results else 0.0,
        "num_error_requests": len(results) - len(ok), "num_completed_requests": len(ok), "num_requests": len(results),
        "stats": {"ttft": stats([r.ttft for r in ok]), "tpot": stats([r.tpot for r in ok if r.output_tokens > 1]),
                  "e2e_latency": stats([r.e2e for r in ok]),
                  "output_latency": stats([r.e2e - r.ttft for r in ok]),
                  "num_input_tokens": stats([float(r.input_tokens) for r in ok]),
                  "num_output_tokens": stats([float(r.output_tokens) for r in ok])},
    }


def run(base_url: str, bench: Benchmark, out_dir: Path, *, seed: int = 0,
        log: Callable[[str], None] = lambda line: None, stop: Callable[[], bool] = lambda: False) -> list[Path]:
    """Every scenario x concurrency run against `base_url`; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    deadline = float(bench.max_time_per_iteration) * 60.0  # minutes, as genai-bench counts them
    written = []
    (out_dir / "experiment_metadata.json").write_text(json.dumps({
        "benchmark_runner": RUNNER, "api_base": base_url, "api_model_name": bench.model_name,
        "traffic_scenario": bench.traffic_scenarios, "num_concurrency": bench.num_concurrency,
        "max_time_per_run_s": deadline, "max_requests_per_run": bench.max_requests_per_iteration}, indent=2))
    for text in bench.traffic_scenarios:
        scenario = Scenario(text, rng)
        for concurrency in bench.num_concurrency:
            if stop():
                return written
            log(f"[builtin] {text} concurrency {concurrency}: running")
            results, duration = run_one(base_url, bench, scenario, concurrency, deadline, stop)
            if stop():  # a stopped run is not a result
                return written
            agg = aggregated(results, duration, scenario, concurrency)
            name = f"{scenario.sanitized}_{bench.task}_num_concurrency_{concurrency}_time_{max(1, round(duration))}s.json"
            path = out_dir / name
            path.write_text(json.dumps({"aggregated_metrics": agg, "_time_unit": "s",
                                        "individual_request_metrics": [vars(r) for r in results]}))
            written.append(path)
            e2e = agg["stats"]["e2e_latency"].get("mean")
            log(f"[builtin] {text} concurrency {concurrency}: {agg['num_completed_requests']}/{agg['num_requests']} ok, "
                f"mean e2e {e2e if e2e is None else round(e2e, 3)} s, "
                f"{agg['mean_output_throughput_tokens_per_s']:.1f} tok/s")
    return written
