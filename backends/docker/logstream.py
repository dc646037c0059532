"""Reading a container's log stream in large blocks.

docker-py reads the multiplexed stream one frame at a time through urllib3 (two reads
and several Python layers per log line), which caps a follower at ~20k lines/s and keeps
a thread busy. Here the HTTP body is read straight from the connection's buffered reader
with `read1` (whatever has arrived, up to 256 KiB), and the chunked transfer encoding
and Docker's 8-byte frame headers are decoded from that block. Transports where that
reader is not reachable (ssh://) use docker-py's own iterator.
"""

from __future__ import annotations

from typing import Any, Iterator

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker

BLOCK = 256 * 1024


class LogStream:
    """Iterate byte blocks of a container's log (stdout and stderr, frames removed);
    `close()` from another thread ends a blocked read."""

    def __init__(self, api: docker.APIClient, cid: str, *, tty: bool, follow: bool, tail: int,
                 since: float | None):
        params: dict[str, Any] = {"stdout": 1, "stderr": 1, "timestamps": 1, "follow": 1 if follow else 0,
                                  "tail": "all" if tail < 0 else tail}
        if since:
            params["since"] = since
        self._response = api._get(api._url("/containers/{0}/logs", cid), params=params, stream=True)
        api._raise_for_status(self._response)
        api._disable_socket_timeout(api._get_raw_response_socket(self._response))
        from docker.types.daemon import CancellableStream  # the SDK is loaded by now: `api` is its client

        self._cancel = CancellableStream(iter(()), self._response)
        self._tty = tty
        fp = getattr(getattr(self._response.raw, "_fp", None), "fp", None)
        chunked = bool(getattr(getattr(self._response.raw, "_fp", None), "chunked", False))
        self._reader = fp if chunked and hasattr(fp, "read1") else None
        self._fallback = None if self._reader is not None else api._multiplexed_response_stream_helper(self._response) \
            if not tty else self._response.iter_content(BLOCK)

    def close(self) -> None:
        try:
            self._cancel.close()
        except Exception:
            pass

    def __iter__(self) -> Iterator[bytes]:
        if self._fallback is not None:
            yield from self._fallback
            return
        chunks = _dechunk(self._reader)
        if self._tty:
            yield from chunks
            return
        pending = b""
        for block in chunks:
            data = pending + block if pending else block
            out, pos, size = [], 0, len(data)
            while size - pos >= 8:
                length = int.from_bytes(data[pos + 4:pos + 8], "big")
                if size - pos - 8 < length:
                    break
                out.append(data[pos + 8:pos + 8 + length])
                pos += 8 + length
            pending = data[pos:]
            if out:
                yield b"".join(out)


def _dechunk(reader) -> Iterator[bytes]:
    """HTTP/1.1 chunked transfer decoding over whatever `read1` returns; one block per read."""
    buf = b""
    left = 0  # bytes of the current chunk still to come (then its CRLF)
    while True:
        data = reader.read1(BLOCK)
        if not data:
            return
        buf = buf + data if buf else data
        out, pos, size = [], 0, len(buf)
        while pos < size:
            if left > 0:
                take = min(left, size - pos)
                out.append(buf[pos:pos + take])
                pos += take
                left -= take
                if left:
                    break
                left = -2  # the CRLF after the chunk
            if left < 0:
                if size - pos < 2:
                    break
                pos += 2
                left = 0
            end = buf.find(b"\r\n", pos)
            if end < 0:
                break
            length = int(buf[pos:end].split(b";")[0] or b"0", 16)
            pos = end + 2
            if length == 0:
                if out:
                    yield b"".join(out)
                return
            left = length
        buf = buf[pos:]
        if out:
            yield b"".join(out)
