"""A stand-in SGLang worker: the SGLang server's HTTP surface without a GPU.

Run: `python -m servedeck.lab.standin_sglang --port 30000 [--model-name M]
[--tokens-per-second R] [--startup-delay S] [--max-running-requests N]`.
Every JSON answer that describes the server carries `"standin": true` so nothing
mistakes it for a real worker. The real `sglang-router` accepts it and routes to it.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from servedeck.lab.standin_engine import EngineSettings, StandinEngine

VERSION = "0.0.0-standin"


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], engine: StandinEngine, startup_delay: float) -> None:
        super().__init__(addr, Handler)
        self.engine = engine
        self.ready_at = time.monotonic() + startup_delay

    @property
    def ready(self) -> bool:
        return time.monotonic() >= self.ready_at


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # A token is a small write every few ms: with Nagle's algorithm on, each waits for the
    # client's (delayed) ACK of the one before, and a stream's end waits up to 40 ms more.
    # SGLang's server (uvicorn, on asyncio) has TCP_NODELAY set on every connection.
    disable_nagle_algorithm = True
    server: StandinServer
    server_version = "standin-sglang/" + VERSION

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: one line per request is noise
        pass

    # -- plumbing ---------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200) -> None:
        self._send(status, json.dumps(obj).encode())

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            data = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return {}
        return data if isinstance(data, dict) else {}

    def _sse(self, events: Iterator[Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for event in events:
                payload = event if isinstance(event, str) else json.dumps(event)
                chunk = f"data: {payload}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- routes -----------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        engine, name = self.server.engine, self.server.engine.settings.model_name
        if path == "/metrics":
            self._send(200, generate_latest(engine.registry), CONTENT_TYPE_LATEST)
        elif not self.server.ready and path in ("/health", "/health_generate"):
            self._send(503, b"starting", "text/plain")
        elif path == "/health":
            self._send(200, b"", "text/plain")
        elif path == "/health_generate":
            list(engine.generate("health", 1))
            self._send(200, b"", "text/plain")
        elif path == "/get_model_info":
            self._json({"model_path": name, "tokenizer_path": name, "is_generation": True,
                        "preferred_sampling_params": None, "weight_version": "default",
                        "has_image_understanding": False, "has_audio_understanding": False,
                        "model_type": "standin", "architectures": ["StandinForCausalLM"],
                        "standin": True})
        elif path == "/get_server_info":
            self._json(self._server_info())
        elif path == "/get_load":
            self._json([{"dp_rank": 0, **engine.load()}])
        elif path == "/v1/models":
            self._json({"object": "list", "data": [{
                "id": name, "object": "model", "created": int(time.time()), "owned_by": "sglang",
                "root": name, "max_model_len": engine.settings.max_total_tokens}]})
        else:
            self._json({"error": f"no route {path}", "standin": True}, 404)

    def _server_info(self) -> dict[str, Any]:
        s, (host, port) = self.server.engine.settings, self.server.server_address[:2]
        return {"model_path": s.model_name, "tokenizer_path": s.model_name,
                "served_model_name": s.model_name, "host": host, "port": port,
                "tp_size": 1, "dp_size": 1, "pp_size": 1, "max_running_requests": s.max_running_requests,
                "max_total_num_tokens": s.max_total_tokens, "chunked_prefill_size": 2048,
                "context_length": s.max_total_tokens, "version": VERSION, "standin": True,
                "standin_tokens_per_second": s.tokens_per_second,
                "internal_states": [{"last_gen_throughput": self.server.engine.throughput()}]}

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        body = self._body()
        if not self.server.ready:
            self._json({"error": "server is starting", "standin": True}, 503)
        elif path == "/v1/chat/completions":
            prompt = " ".join(str(m.get("content", "")) for m in body.get("messages", [])
                              if isinstance(m, dict))
            self._openai(body, prompt, chat=True)
        elif path == "/v1/completions":
            self._openai(body, str(body.get("prompt", "")), chat=False)
        elif path == "/generate":
            self._generate(body)
        elif path == "/flush_cache":
            self._send(200, b"Cache flushed.", "text/plain")
        else:
            self._json({"error": f"no route {path}", "standin": True}, 404)

    def _max_tokens(self, body: dict[str, Any], key: str = "max_tokens") -> int:
        value = body.get(key) or body.get("max_completion_tokens") or 16
        return max(1, min(int(value), 4096))

    def _openai(self, body: dict[str, Any], prompt: str, chat: bool) -> None:
        engine = self.server.engine
        rid, model = "standin-" + uuid.uuid4().hex[:16], engine.settings.model_name
        kind, created = ("chat.completion" if chat else "text_completion"), int(time.time())
        n_out = self._max_tokens(body)
        n_prompt = len(prompt.split()) or 1

        def choice(text: str, finish: str | None, stream: bool) -> dict[str, Any]:
            if not chat:
                return {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
            key = "delta" if stream else "message"
            return {"index": 0, key: {"role": "assistant", "content": text}, "finish_reason": finish}

        if body.get("stream"):
            def events() -> Iterator[Any]:
                for i, word in enumerate(engine.generate(prompt, n_out)):
                    text = word if i == 0 else " " + word
                    yield {"id": rid, "object": kind + ".chunk" if chat else kind, "created": created,
                           "model": model, "choices": [choice(text, None, True)]}
                yield {"id": rid, "object": kind + ".chunk" if chat else kind, "created": created,
                       "model": model, "choices": [choice("", "length", True)],
                       "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_out,
                                 "total_tokens": n_prompt + n_out}}
                yield "[DONE]"
            self._sse(events())
            return
        text = " ".join(engine.generate(prompt, n_out))
        self._json({"id": rid, "object": kind, "created": created, "model": model, "standin": True,
                    "choices": [choice(text, "length", False)],
                    "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_out,
                              "total_tokens": n_prompt + n_out}})

    def _generate(self, body: dict[str, Any]) -> None:
        engine = self.server.engine
        params = body.get("sampling_params") or {}
        n_out = self._max_tokens(params, "max_new_tokens")
        prompt = str(body.get("text", ""))
        rid = str(body.get("rid") or uuid.uuid4().hex)

        def meta(done: int, finished: bool) -> dict[str, Any]:
            return {"id": rid, "prompt_tokens": len(prompt.split()) or 1, "completion_tokens": done,
                    "finish_reason": {"type": "length", "length": n_out} if finished else None}

        if body.get("stream"):
            def events() -> Iterator[Any]:
                words: list[str] = []
                for word in engine.generate(prompt, n_out):
                    words.append(word)
                    yield {"text": " ".join(words), "meta_info": meta(len(words), False)}
                yield {"text": " ".join(words), "meta_info": meta(len(words), True)}
                yield "[DONE]"
            self._sse(events())
            return
        words = list(engine.generate(prompt, n_out))
        self._json({"text": " ".join(words), "meta_info": meta(len(words), True), "standin": True})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="standin_sglang", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=30000)
    parser.add_argument("--model-name", default="standin-model")
    parser.add_argument("--tokens-per-second", type=float, default=20.0)
    parser.add_argument("--max-running-requests", type=int, default=8)
    parser.add_argument("--max-total-tokens", type=int, default=16384)
    parser.add_argument("--startup-delay", type=float, default=0.0)
    args = parser.parse_args(argv)
    if args.tokens_per_second <= 0 or args.max_running_requests < 1:
        parser.error("--tokens-per-second must be > 0 and --max-running-requests >= 1")
    engine = StandinEngine(EngineSettings(
        model_name=args.model_name, tokens_per_second=args.tokens_per_second,
        max_running_requests=args.max_running_requests, max_total_tokens=args.max_total_tokens))
    try:
        server = StandinServer((args.host, args.port), engine, args.startup_delay)
    except OSError as exc:
        print(f"standin_sglang: cannot listen on {args.host}:{args.port}: {exc.strerror}")
        return 1
    print(f"standin_sglang: serving {args.model_name} on http://{args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
