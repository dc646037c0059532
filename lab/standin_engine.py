"""The load model behind the stand-in SGLang worker: honest queueing, pacing and metrics.

The stand-in has no GPU, so "generation" is a paced loop that emits words. What makes it
useful is that everything it reports is computed from the requests it really serves:
requests beyond `max_running` wait in a queue, tokens arrive at the configured pace, and
the `sglang:` metrics (gauges, counters, histograms) are updated from those requests.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

WORDS = "standin tokens flow from a worker without a gpu at a steady paced rate".split()
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
TPOT_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1)
E2E_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120)


@dataclass(frozen=True)
class EngineSettings:
    model_name: str = "standin-model"
    tokens_per_second: float = 20.0  # decode pace of one request
    prefill_tokens_per_second: float = 4000.0
    max_running_requests: int = 8
    max_total_tokens: int = 16384  # KV-cache capacity, for sglang:token_usage


class PrefixCache:
    """Remembers prompt prefixes (by word) so cache_hit_rate reflects repeated prompts."""

    def __init__(self, limit: int = 200_000) -> None:
        self._seen: set[int] = set()
        self._limit = limit

    def lookup_and_insert(self, words: list[str]) -> int:
        """Number of leading words already cached; then caches the whole prompt."""
        hit, prefix_hash, still_hitting = 0, 0, True
        for word in words:
            prefix_hash = hash((prefix_hash, word))
            if still_hitting and prefix_hash in self._seen:
                hit += 1
            else:
                still_hitting = False
                if len(self._seen) < self._limit:
                    self._seen.add(prefix_hash)
        return hit


class StandinEngine:
    """Admits, paces and accounts for requests; thread-safe."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.registry = CollectorRegistry()
        self._lock = threading.Lock()
        self._slots = threading.Semaphore(settings.max_running_requests)
        self._running = 0
        self._queued = 0
        self._tokens_in_use = 0
        self._cache = PrefixCache()
        self._prompt_total = 0
        self._cached_total = 0
        self._recent: collections.deque[tuple[float, int]] = collections.deque()
        self._build_metrics()

    def _build_metrics(self) -> None:
        reg, label = self.registry, ["model_name"]
        name = self.settings.model_name

        def gauge(metric: str, doc: str, fn) -> None:  # type: ignore[no-untyped-def]
            Gauge(metric, doc, label, registry=reg).labels(name).set_function(fn)

        gauge("sglang:num_running_reqs", "Running requests.", lambda: self._running)
        gauge("sglang:num_queue_reqs", "Requests waiting for a slot.", lambda: self._queued)
        gauge("sglang:token_usage", "Fraction of KV cache in use.",
              lambda: self._tokens_in_use / self.settings.max_total_tokens)
        gauge("sglang:gen_throughput", "Generated tokens per second (last 5 s).", self.throughput)
        gauge("sglang:cache_hit_rate", "Prefix cache hit rate.",
              lambda: self._cached_total / self._prompt_total if self._prompt_total else 0.0)
        self.prompt_tokens = Counter("sglang:prompt_tokens", "Prompt tokens.", label, registry=reg).labels(name)
        self.gen_tokens = Counter("sglang:generation_tokens", "Generated tokens.", label,
                                  registry=reg).labels(name)
        self.ttft = Histogram("sglang:time_to_first_token_seconds", "Time to first token.", label,
                              buckets=TTFT_BUCKETS, registry=reg).labels(name)
        self.tpot = Histogram("sglang:time_per_output_token_seconds", "Time per output token.", label,
                              buckets=TPOT_BUCKETS, registry=reg).labels(name)
        self.e2e = Histogram("sglang:e2e_request_latency_seconds", "End-to-end latency.", label,
                             buckets=E2E_BUCKETS, registry=reg).labels(name)

    def throughput(self, window: float = 5.0) -> float:
        now = time.monotonic()
        with self._lock:
            while self._recent and self._recent[0][0] < now - window:
                self._recent.popleft()
            return sum(n for _, n in self._recent) / window

    def load(self) -> dict[str, int]:
        """What /get_load reports: the router's power-of-two policy reads it."""
        return {"num_reqs": self._running + self._queued, "num_waiting_reqs": self._queued,
                "num_tokens": self._tokens_in_use}

    def generate(self, prompt: str, max_tokens: int) -> Iterator[str]:
        """Yields one word per output token, after waiting its turn and "prefilling"."""
        started = time.monotonic()
        words = prompt.split() or ["<empty>"]
        n_prompt = len(words)
        with self._lock:
            self._queued += 1
        self._slots.acquire()
        produced = 0
        try:
            with self._lock:
                self._queued -= 1
                self._running += 1
                self._tokens_in_use += n_prompt
                cached = self._cache.lookup_and_insert(words)
                self._prompt_total += n_prompt
                self._cached_total += cached
            self.prompt_tokens.inc(n_prompt)
            # Paced against a clock, not by sleeping an interval per token: a GPU decodes at
            # its own rate, so a late wake-up on a busy host must not push back every later
            # token (the lateness grew with the running requests and ate the modelled gaps).
            interval = 1.0 / self.settings.tokens_per_second
            decode_at = time.monotonic() + (n_prompt - cached) / self.settings.prefill_tokens_per_second
            last = decode_at  # the first token's gap is its TTFT, observed apart
            for i in range(max_tokens):
                _sleep_until(decode_at + (i + 1) * interval)
                now = time.monotonic()
                if i == 0:
                    self.ttft.observe(now - started)
                else:
                    self.tpot.observe(now - last)
                last = now
                with self._lock:
                    self._tokens_in_use += 1
                    self._recent.append((now, 1))
                produced += 1
                self.gen_tokens.inc()
                yield WORDS[i % len(WORDS)]
            self.e2e.observe(time.monotonic() - started)
        finally:
            with self._lock:
                self._running -= 1
                self._tokens_in_use = max(0, self._tokens_in_use - n_prompt - produced)
            self._slots.release()


def _sleep_until(deadline: float) -> None:
    delay = deadline - time.monotonic()
    if delay > 0:
        time.sleep(delay)
