"""A fetched body's Content-Encoding undone as it arrives, never past a size limit.

gzip (every member, as gzip allows several) and deflate (zlib-wrapped or raw, told apart
by its first two bytes) are inflated with zlib's `max_length`: at most the limit plus one
byte is ever decoded, so a gzip bomb costs a few KB. `sources.http` feeds the chunks it
reads and turns a `DecodeError` into its `FetchError`.
"""

from __future__ import annotations

import zlib
from typing import Any

from powercycle.sources.netguard import scrub


class DecodeError(Exception):
    """A body that cannot be decoded, or decodes to more than the limit (one line)."""


class Decoder:
    """Content-Encoding undone as the bytes arrive, holding at most `limit` + 1 bytes."""

    def __init__(self, coding: str, limit: int) -> None:
        coding = coding.strip().lower()
        if coding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise DecodeError(f"unsupported Content-Encoding {scrub(coding[:40])!r}")
        self.identity = coding in ("", "identity")
        self._gzip = coding in ("gzip", "x-gzip")
        self._limit = limit
        self._out = bytearray()
        self._inflater: Any = None  # zlib's decompress object for the current member
        self._pending = b""  # deflate: the first bytes, until the wrapper is known
        self._members = 0
        self._rest_ignored = False

    def feed(self, data: bytes) -> None:
        if self.identity:
            self._out += data
            self._check(len(self._out))
            return
        if not self._gzip and self._inflater is None and not self._members:
            self._pending += data
            if len(self._pending) < 2:
                return
            data, self._pending = self._pending, b""
            header = data[0] << 8 | data[1]
            zlib_wrapped = data[0] & 0x0F == 8 and header % 31 == 0
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
        self._inflate(data)

    def _inflate(self, data: bytes) -> None:
        while data and not self._rest_ignored:
            if self._inflater is None:  # the next gzip member
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                # One byte more than fits: enough to tell "too big" without inflating more.
                out = self._inflater.decompress(data, self._limit - len(self._out) + 1)
            except zlib.error:
                if self._members:  # trailing bytes after a complete member, as gzip allows
                    self._rest_ignored = True
                    return
                raise DecodeError("body could not be decoded (Content-Encoding)") from None
            self._out += out
            self._check(len(self._out))
            if not self._inflater.eof:
                return  # all input taken (the output limit was not reached): wait for more
            self._members += 1
            data = self._inflater.unused_data
            self._inflater = None
            self._rest_ignored = not self._gzip  # deflate has one stream

    def _check(self, size: int) -> None:
        if size > self._limit:
            once = "" if self.identity else " once decoded"
            raise DecodeError(f"too big: more than {self._limit} bytes{once}")

    def finish(self) -> bytes:
        if not self.identity and not self._members:
            raise DecodeError("body could not be decoded (compressed data ends early)")
        return bytes(self._out)
