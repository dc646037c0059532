"""A stand-in for `python -m sglang.launch_server`: SGLang's server flags -> the stand-in worker.

The tuning parameters really shape the stand-in, so a parameter search has something to
find (a GPU's behaviour, modelled, not measured):
- `--mem-fraction-static` sizes the KV cache and so the concurrent requests it admits
  (max(1, round((f - 0.5) * 20)): 0.6 -> 2, 0.7 -> 4, 0.85 -> 7); above 0.9 the server
  dies like SGLang does when nothing is left for activations (CUDA graph capture OOM);
- `--tp-size` divides the per-token time across GPUs at a communication cost
  (base / tp + comm * (tp - 1)^2: tp 1/2/4 = 24/15/33 ms a token; tp 2 is fastest by
  over a third, well beyond benchmark noise, and tp 4 pays for its all-reduces), and it
  needs as many GPUs as CUDA_VISIBLE_DEVICES lists;
- `--schedule-policy` lpm / fcfs / random / dfs-weight: 1.0 / 1.05 / 1.12 / 1.08 x time;
- an unknown flag or a bad value exits with argparse's error, like the real server.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from servedeck.lab.standin_engine import EngineSettings, StandinEngine
from servedeck.lab.standin_sglang import StandinServer

BASE_TOKEN_S = 0.024
COMM_TOKEN_S = 0.003
POLICY_FACTOR = {"lpm": 1.0, "fcfs": 1.05, "random": 1.12, "dfs-weight": 1.08}


def slots_for(mem_fraction: float) -> int:
    return max(1, round((mem_fraction - 0.5) * 20))


def token_seconds(tp: int, policy: str) -> float:
    return (BASE_TOKEN_S / tp + COMM_TOKEN_S * (tp - 1) ** 2) * POLICY_FACTOR[policy]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sglang.launch_server (stand-in)")
    p.add_argument("--model-path", required=True)
    p.add_argument("--served-model-name")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=30000)
    p.add_argument("--tp-size", "--tp", type=int, default=1, choices=[1, 2, 4, 8])
    p.add_argument("--mem-fraction-static", type=float, default=0.8)
    p.add_argument("--max-total-tokens", type=int, default=16384)
    p.add_argument("--max-running-requests", type=int)
    p.add_argument("--schedule-policy", default="fcfs", choices=sorted(POLICY_FACTOR))
    p.add_argument("--chunked-prefill-size", type=int, default=2048)
    p.add_argument("--enable-torch-compile", action="store_true")
    p.add_argument("--disable-cuda-graph", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    # As PID 1 in a container, Python ignores SIGTERM unless told: `docker stop` must not wait 10 s.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    args = parser().parse_args(argv)
    print(f"[stand-in sglang] server_args={vars(args)}", flush=True)
    visible = [g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    if len(visible) < args.tp_size:
        print(f"RuntimeError: tp_size={args.tp_size} needs {args.tp_size} GPUs, "
              f"CUDA_VISIBLE_DEVICES has {len(visible)} (stand-in)", flush=True)
        return 1
    if not 0.0 < args.mem_fraction_static < 1.0:
        print("ValueError: mem_fraction_static must be in (0, 1)", flush=True)
        return 1
    if args.mem_fraction_static > 0.9:
        print(f"torch.OutOfMemoryError: CUDA out of memory during CUDA graph capture "
              f"(mem_fraction_static={args.mem_fraction_static} leaves no room for activations; stand-in)", flush=True)
        return 1
    slots = args.max_running_requests or slots_for(args.mem_fraction_static)
    per_token = token_seconds(args.tp_size, args.schedule_policy)
    name = args.served_model_name or os.path.basename(args.model_path.rstrip("/")) or args.model_path
    engine = StandinEngine(EngineSettings(model_name=name, tokens_per_second=1.0 / per_token,
                                          max_running_requests=slots, max_total_tokens=args.max_total_tokens))
    delay = float(os.environ.get("STANDIN_STARTUP_DELAY", "1.0"))
    try:
        server = StandinServer((args.host, args.port), engine, delay)
    except OSError as exc:
        print(f"OSError: cannot listen on {args.host}:{args.port}: {exc.strerror}", flush=True)
        return 1
    print(f"[stand-in sglang] GPUs {visible}, {slots} running requests, {per_token * 1000:.1f} ms/token; "
          f"The server is fired up and ready to roll! http://{args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
