"""A stand-in `vllm` executable: `vllm serve PATH --served-model-name M --port P ...`.

Real vLLM needs a GPU, so the lab puts this on the Pylet worker's PATH as `vllm`: Pylet
runs the very command line the sllm head submits, and this answers like vLLM's OpenAI
server. Like vLLM it loads first (nothing listens meanwhile, `--load-seconds`, default 3)
and then serves `/health`, `/version`, `/v1/models`, `/v1/chat/completions` and
`/v1/completions` at a steady pace. With `--load-format serverless_llm` the model path
must exist (an sllm-format checkpoint), as for vLLM. Errors use vLLM's JSON
(`{"object": "error", "message", "type", "code"}`): an unknown model name is 404, more
`max_tokens` than `--max-model-len` is 400. Its answers carry `"standin": true`.
`SERVEDECK_STANDIN_BIND` overrides `--host` (the lab keeps everything on 127.0.0.1).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from servedeck.lab.standin_engine import EngineSettings, StandinEngine
from servedeck.lab.standin_sglang import Handler, StandinServer

VERSION = "0.0.0-standin"


class VllmHandler(Handler):
    server_version = "standin-vllm/" + VERSION
    _cached: dict[str, Any] | None = None

    def _body(self) -> dict[str, Any]:
        if self._cached is None:
            self._cached = super()._body()
        return self._cached

    def _error(self, message: str, kind: str, code: int) -> None:
        self._json({"object": "error", "message": message, "type": kind, "param": None, "code": code,
                    "standin": True}, code)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        name = self.server.engine.settings.model_name
        if path == "/health":
            self._send(200, b"", "text/plain")
        elif path == "/version":
            self._json({"version": VERSION, "standin": True})
        elif path == "/v1/models":
            self._json({"object": "list", "data": [{
                "id": name, "object": "model", "created": int(time.time()), "owned_by": "vllm",
                "root": self.server.model_path, "max_model_len": self.server.max_model_len, "standin": True}]})
        else:
            self._json({"detail": "Not Found"}, 404)

    def do_POST(self) -> None:
        self._cached = None
        path = self.path.split("?", 1)[0]
        body = self._body()
        if path in ("/v1/chat/completions", "/v1/completions"):
            name = self.server.engine.settings.model_name
            if body.get("model") not in (None, name):
                self._error(f"The model `{body.get('model')}` does not exist.", "NotFoundError", 404)
                return
            asked = body.get("max_tokens") or body.get("max_completion_tokens") or 16
            if isinstance(asked, int) and asked > self.server.max_model_len:
                self._error(f"This model's maximum context length is {self.server.max_model_len} tokens. "
                            f"However, you requested {asked} tokens.", "BadRequestError", 400)
                return
        super().do_POST()


class VllmServer(StandinServer):
    def __init__(self, addr, engine, model_path: str, max_model_len: int):
        super().__init__(addr, engine, 0.0)
        self.RequestHandlerClass = VllmHandler
        self.model_path = model_path
        self.max_model_len = max_model_len


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vllm", description="stand-in vLLM (lab): " + __doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("model")
    serve.add_argument("--served-model-name", default=None)
    serve.add_argument("--load-format", default="auto")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--tensor-parallel-size", type=int, default=1)
    serve.add_argument("--max-model-len", type=int, default=2048)
    serve.add_argument("--load-seconds", type=float,
                       default=float(os.environ.get("SERVEDECK_STANDIN_VLLM_LOAD_S", "3")))
    serve.add_argument("--tokens-per-second", type=float, default=25.0)
    args, unknown = parser.parse_known_args(argv)
    name = args.served_model_name or args.model
    print(f"INFO standin vllm {VERSION}: serve {args.model} as {name} (tp={args.tensor_parallel_size}, "
          f"load format {args.load_format}, CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '')})"
          + (f"; ignoring {' '.join(unknown)}" if unknown else ""), flush=True)
    if args.load_format == "serverless_llm" and not Path(args.model).exists():
        print(f"ERROR: no sllm-format checkpoint at {args.model} (save it with `sllm-store save`)", flush=True)
        return 1
    gpus = [g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g]
    if len(gpus) < args.tensor_parallel_size:
        print(f"ERROR: tensor_parallel_size={args.tensor_parallel_size} needs that many GPUs, "
              f"CUDA_VISIBLE_DEVICES has {len(gpus)}", flush=True)
        return 1
    print(f"INFO loading weights ({args.load_seconds:g}s)", flush=True)
    time.sleep(args.load_seconds)
    engine = StandinEngine(EngineSettings(model_name=name, tokens_per_second=args.tokens_per_second))
    host = os.environ.get("SERVEDECK_STANDIN_BIND") or args.host
    try:
        server = VllmServer((host, args.port), engine, args.model, args.max_model_len)
    except OSError as exc:
        print(f"ERROR: cannot listen on {host}:{args.port}: {exc.strerror}", flush=True)
        return 1
    print(f"INFO: Uvicorn running on http://{host}:{args.port} (standin)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
