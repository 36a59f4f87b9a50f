"""A schedule document's JSON, within limits: the one reader of every schedule document.

Inline tag values, fetched documents and S3 objects all go through `load_document`:

* size: at most `INLINE_MAX_BYTES` (64 KB) for a tag value, `FETCHED_MAX_BYTES` (256 KB)
  for a document (the HTTP client caps the decoded body at the same figure);
* depth: objects and lists nested at most `MAX_DEPTH` (10) deep. Counted on the text, in
  one linear pass, before anything is parsed: a document nested 100,000 deep is refused
  without the parser's recursion ever being reached;
* keys: a key given twice in one object is refused, named (JSON parsers silently keep the
  last one; whoever wrote it meant one of them, and we cannot know which);
* text: UTF-8 (a byte-order mark is allowed); anything else is "not valid JSON".

Each refusal is a `DocumentError` whose one-line message names the limit.
"""

from __future__ import annotations

import json
import re
from typing import Any

INLINE_MAX_BYTES = 64 * 1024
FETCHED_MAX_BYTES = 256 * 1024
MAX_DEPTH = 10

# A string (closed, or open to the end of the text) or one bracket. Strings are matched
# whole so that brackets inside them do not count; possessive, so linear in the text.
_TOKENS = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\Z)|[\[\]{}]', re.DOTALL)


class DocumentError(ValueError):
    """A schedule document that is not JSON or is over a limit; the message names it."""


class _DuplicateKey(ValueError):
    pass


def load_document(data: bytes | str, *, limit: int = FETCHED_MAX_BYTES) -> object:
    """The document's JSON value; DocumentError if it is not JSON or over a limit."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise DocumentError(f"too big: {size} bytes, the limit is {limit} ({limit // 1024} KB)")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise DocumentError("not valid JSON (not UTF-8 text)") from None
    else:
        text = data
    check_depth(text)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as exc:
        raise DocumentError(str(exc)) from None
    except json.JSONDecodeError as exc:
        raise DocumentError(
            f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of 5,000 digits
        reason = " ".join(str(exc).split())[:100]
        raise DocumentError(f"not valid JSON ({reason})") from None


def check_depth(text: str) -> None:
    """DocumentError if objects and lists nest more than MAX_DEPTH deep (no recursion)."""
    depth = 0
    for token in _TOKENS.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise DocumentError(
                    f"nested too deeply: more than {MAX_DEPTH} levels of objects and lists"
                )
        elif bracket in "]}":
            depth -= 1


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            shown = key if len(key) <= 40 else key[:37] + "..."
            raise _DuplicateKey(f"duplicate key {shown!r}: each key may appear once per object")
        document[key] = value
    return document
