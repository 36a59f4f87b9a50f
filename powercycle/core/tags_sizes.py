"""The sizes of stopped EKS node groups, as `powercycle:nodegroups` remembers them.

A stop remembers each group's `min/desired/max` so that the start gives them back. The
memory of many groups outgrows one tag value (256 characters), so it is split over parts
(`core.tags` names their keys: `nodegroups_part`, `is_nodegroups_part`): `encode_sizes`
writes `web=1/2/3 api=0/1/5` in as few parts as fit, at most `MAX_PARTS`;
`remembered_sizes` merges every part back. JSON parts (`{"web": [1, 2, 3]}`), as
powercycle wrote them before tag-safe values, are still read, never written.

`core.tags` stays the one module that spells the tag names; this one only codes values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from powercycle.core.tags import (
    MAX_SIZE,
    TagError,
    is_nodegroups_part,
    nodegroups_part,
    part_number,
)

__all__ = [
    "MAX_PARTS",
    "NODEGROUPS_FORMAT",
    "TAG_VALUE_LIMIT",
    "Sizes",
    "encode_sizes",
    "remembered_sizes",
]

TAG_VALUE_LIMIT = 256
MAX_PARTS = 20  # of EKS's 50 tags per cluster


@dataclass(frozen=True)
class Sizes:
    min: int
    desired: int
    max: int

    def as_list(self) -> list[int]:
        return [self.min, self.desired, self.max]

    @property
    def zero(self) -> bool:
        return self.min == 0 and self.desired == 0


def remembered_sizes(tags: Mapping[str, str]) -> tuple[dict[str, Sizes] | None, tuple[str, ...]]:
    """The sizes a stop remembered (every part merged), and the tag keys holding them.

    A part is `web=1/2/3 api=0/1/5` (tag-safe), or JSON `{"web": [1, 2, 3]}` as
    powercycle wrote it before: both are read, only the first is written."""
    parts = tuple(sorted((k for k in tags if is_nodegroups_part(k)), key=part_number))
    if not parts:
        return None, ()
    memory: dict[str, Sizes] = {}
    for key in parts:
        value = tags[key]
        fix = f"{key} {value[:60]!r}"
        entries = _json_part(value, fix) if value.lstrip().startswith("{") else _part(value, fix)
        for name, sizes in entries:
            if name in memory:
                raise TagError(f"{fix}: node group {name!r} is remembered twice")
            memory[name] = _sizes(sizes, fix, name)
    return memory, parts


# An EKS node group name: letters, digits, `-` and `_`, starting with a letter or digit.
_GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}", re.ASCII)
_ENTRY = re.compile(r"([^=\s]+)=([0-9]{1,6})/([0-9]{1,6})/([0-9]{1,6})", re.ASCII)
NODEGROUPS_FORMAT = "name=min/desired/max, space-separated (web=1/2/3 api=0/1/5)"


def _part(value: str, fix: str) -> list[tuple[str, object]]:
    entries: list[tuple[str, object]] = []
    for entry in value.split():
        match = _ENTRY.fullmatch(entry)
        if match is None or not _GROUP_NAME.fullmatch(match.group(1)):
            raise TagError(f"{fix}: {entry[:40]!r} is not {NODEGROUPS_FORMAT}; fix or delete it")
        entries.append((match.group(1), [int(match.group(n)) for n in (2, 3, 4)]))
    if not entries:
        raise TagError(f"{fix} is empty, not {NODEGROUPS_FORMAT}; fix or delete it")
    return entries


def _json_part(value: str, fix: str) -> list[tuple[str, object]]:
    """A part as powercycle wrote it before tag-safe values (read, never written)."""
    try:
        doc = json.loads(value)
    except ValueError:
        raise TagError(f"{fix} is not JSON nor {NODEGROUPS_FORMAT}; fix or delete it") from None
    return list(doc.items())  # a value starting with `{` that parses is an object


def _sizes(value: object, fix: str, name: str) -> Sizes:
    if (
        isinstance(value, list)
        and len(value) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and 0 <= value[0] <= value[1] <= value[2] <= MAX_SIZE
    ):
        return Sizes(value[0], value[1], value[2])
    raise TagError(
        f"{fix}: {name!r} is not [min, desired, max] with min <= desired <= max "
        f"<= {MAX_SIZE}; "
        "fix or delete the tag"
    )


def encode_sizes(memory: Mapping[str, Sizes]) -> dict[str, str]:
    """Tag key -> value holding `memory` (`web=1/2/3 api=0/1/5`), split so that each value
    fits in 256 characters."""
    values: list[str] = []
    part: list[str] = []
    for name in sorted(memory):
        if not _GROUP_NAME.fullmatch(name):
            raise TagError(f"node group name {name[:80]!r} cannot be remembered in a tag")
        sizes = memory[name]
        entry = f"{name}={sizes.min}/{sizes.desired}/{sizes.max}"
        if part and len(" ".join([*part, entry])) > TAG_VALUE_LIMIT:
            values.append(" ".join(part))
            part = []
        part.append(entry)
    values.append(" ".join(part))
    if len(values) > MAX_PARTS:
        raise TagError(
            f"the sizes of {len(memory)} node groups need {len(values)} tags of 256 "
            f"characters; at most {MAX_PARTS} are used: stop refused, nothing changed"
        )
    return {nodegroups_part(i): v for i, v in enumerate(values, start=1)}
