"""When the bytes of one HTTP/1.1 request are all in, told from its framing alone.

The worker's event loop reads each request whole into memory before a thread gets it
(``http_worker``), and asks a ``RequestFraming`` after every read. It frames the request as
gunicorn's parser will: the head up to its empty line, then ``Content-Length`` bytes, or
chunks up to the last one and the trailers after it, and parses nothing else. A request it
cannot frame (two lengths, a length that is not a number, a transfer coding other than a
single ``chunked`` last, a bad chunk-size line) counts as in at once: gunicorn's parser then
refuses it from the bytes already read, without waiting for more.

A body longer than ``max_body_bytes`` raises ``BodyTooLarge`` as soon as its length is known
(a ``Content-Length``, or chunk sizes adding up past it), so it is refused before it is read.
A chunked body's framing may add ``max_head_bytes`` on top, and no more.
"""

from __future__ import annotations

import re

_HEAD_ENDS = (b"\r\n\r\n", b"\n\n")
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]+")
_MAX_CHUNK_SIZE_LINE = 1024
MAX_CHUNKS = 4096
"""Chunks one body may come in (1 MiB in 256-byte chunks). gunicorn's chunked reader copies
what is left of the body once per chunk, so a body of many tiny chunks costs CPU quadratic
in their number (100,000 one-byte chunks kept a worker busy for minutes)."""


class BodyTooLarge(Exception):
    """The request announces or sends a body over the limit."""


class RequestFraming:
    """The bytes received of one request, and whether they are all of it."""

    def __init__(self, max_body_bytes: int, max_head_bytes: int) -> None:
        self.data = bytearray()
        self.max_body_bytes, self.max_head_bytes = max_body_bytes, max_head_bytes
        self.body_start: int | None = None  # where the body starts, once the head is in
        self.expects_continue = False  # ``Expect: 100-continue``
        self._content_length: int | None = None
        self._chunked = self._in_trailers = False
        self._next_chunk = 0  # where the next chunk-size line (or the trailers) starts
        self._chunked_body_bytes = 0
        self._chunks = 0

    @property
    def head_complete(self) -> bool:
        return self.body_start is not None

    def feed(self, data: bytes) -> bool:
        """Add ``data`` received; whether the request is in (or gunicorn can refuse it now)."""
        searched_from = max(0, len(self.data) - 3)
        self.data += data
        if self.body_start is None:
            ends = [(at + len(end)) for end in _HEAD_ENDS
                    if (at := self.data.find(end, searched_from)) >= 0]
            if not ends:
                return len(self.data) > self.max_head_bytes  # gunicorn answers 431
            self.body_start = min(ends)
            if self.body_start > self.max_head_bytes or not self._read_framing():
                return True
        return self._body_complete()

    def _read_framing(self) -> bool:
        """Take the framing from the head; False if it cannot be framed."""
        assert self.body_start is not None
        lengths, codings = [], []
        for line in bytes(self.data[:self.body_start]).split(b"\n")[1:]:
            name, colon, value = line.rstrip(b"\r").partition(b":")
            name, value = name.strip().lower(), value.strip()
            if not colon:
                continue
            if name == b"content-length":
                lengths.append(value)
            elif name == b"transfer-encoding":
                codings += [coding.strip().lower() for coding in value.split(b",")]
            elif name == b"expect" and value.lower() == b"100-continue":
                self.expects_continue = True
        if codings:
            self._chunked = True
            self._next_chunk = self.body_start
            return not lengths and codings[-1] == b"chunked" and codings.count(b"chunked") == 1
        if not lengths:
            self._content_length = 0
            return True
        if len(lengths) > 1 or not lengths[0].isdigit():
            return False
        self._content_length = int(lengths[0])
        if self._content_length > self.max_body_bytes:
            raise BodyTooLarge
        return True

    def _body_complete(self) -> bool:
        assert self.body_start is not None
        if not self._chunked:
            assert self._content_length is not None
            return len(self.data) - self.body_start >= self._content_length
        if len(self.data) - self.body_start > self.max_body_bytes + self.max_head_bytes:
            raise BodyTooLarge
        while not self._in_trailers:
            line_end = self.data.find(b"\r\n", self._next_chunk)
            if line_end < 0:
                return len(self.data) - self._next_chunk > _MAX_CHUNK_SIZE_LINE
            size_text = bytes(self.data[self._next_chunk:line_end]).split(b";", 1)[0]
            size_text = size_text.rstrip(b" \t")
            if not _CHUNK_SIZE.fullmatch(size_text):
                return True
            size = int(size_text, 16)
            if size == 0:
                self._in_trailers, self._next_chunk = True, line_end + 2
                break
            if self._chunked_body_bytes + size > self.max_body_bytes:
                raise BodyTooLarge
            chunk_end = line_end + 2 + size + 2
            if len(self.data) < chunk_end:
                return False
            self._chunked_body_bytes += size
            self._next_chunk = chunk_end
            self._chunks += 1
            if self._chunks > MAX_CHUNKS:
                raise BodyTooLarge
        if self.data[self._next_chunk:self._next_chunk + 2] == b"\r\n":
            return True
        return self.data.find(b"\r\n\r\n", self._next_chunk) >= 0
