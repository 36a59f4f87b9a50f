"""The provider Protocol and a kind's declaration: what the engine and the doors ask of
every kind.

In a module of its own so that no kind imports the package that registers it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from powercycle import aws
from powercycle.aws import OWN, action_error
from powercycle.core.decide import StateTagError, parse_state
from powercycle.core.model import DEFERRED, ActionError, ActRequest, Resource
from powercycle.core.schedule import Action
from powercycle.core.tags import Attempts
from powercycle.runtime.budget import Budget
from powercycle.runtime.pool import Deferred

if TYPE_CHECKING:
    from powercycle.config import Config


class Provider(Protocol):
    kind: str
    region: str

    def discover(self, tag: str) -> Iterable[Resource]:
        """Resources carrying the schedule tag `tag`."""
        ...

    def lookup(self, refs: Sequence[str]) -> dict[str, Resource]:
        """Resources named by a manual payload, by the ref that found them (absent: unknown)."""
        ...

    def act(self, action: Action, requests: Sequence[ActRequest]) -> dict[str, ActionError | None]:
        """Start or stop; returns, for every resource id, None when accepted or the error."""
        ...

    def record(self, key: str, values: Mapping[str, str]) -> dict[str, str]:
        """Write tag `key` (id -> value); returns an error message per id that failed."""
        ...


# kind -> its providers for a pass:
# `(config, regions, *, budget, credentials, account) -> [Provider, ...]`.
Factory = Callable[..., list["Provider"]]


def per_region(make: Callable[..., Provider]) -> Factory:
    """The `Factory` of a kind with one provider per region: `make(config, region,
    budget=..., credentials=..., account=...)` for each of the regions."""

    def providers(
        config: Config,
        regions: Sequence[str],
        *,
        budget: Budget | None = None,
        credentials: str = OWN,
        account: str = "",
    ) -> list[Provider]:
        return [
            make(config, region, budget=budget, credentials=credentials, account=account)
            for region in regions
        ]

    return providers


@dataclass(frozen=True)
class Found:
    """A resource named on the command line, as its kind found it: enough to show it, to
    tell it from a namesake elsewhere, and to write its tags."""

    kind: str
    id: str
    region: str
    account: str
    arn: str
    tags: Mapping[str, str] = field(repr=False)


@runtime_checkable
class Tagger(Provider, Protocol):
    """What the CLI asks of a provider besides `record` (which writes its tags): find
    resources by id, name or ARN, and remove tags."""

    account: str

    def find(self, refs: Sequence[str]) -> dict[str, list[Found]]:
        """The resources each ref names in this provider's account and region."""
        ...

    def remove_tags(self, found: Found, keys: Sequence[str]) -> None:
        """Remove `keys` from the resource (raises on failure)."""
        ...


@dataclass(frozen=True)
class Memory:
    """A memory a resource carries (`powercycle seal` reviews it): the memory's tag, the
    tags holding it, and what it holds in words, checked against the resource as it is now."""

    name: str
    values: Mapping[str, str]
    shown: str


@runtime_checkable
class Sealer(Tagger, Protocol):
    """A kind whose resources carry memories (sizes, a type) for `powercycle seal`."""

    def memory(self, found: Found) -> Memory | None:
        """The memory `found` carries (None: none); raises `TagError` or `ValueError` when
        it cannot be sealed (unreadable, or above what the resource allows now)."""
        ...

    def seal_arn(self, found: Found) -> str:
        """The ARN the memory's seal binds."""
        ...


# (region, resource id, ARN or "", {key: value}) -> the AWS CLI command writing those tags.
TagCommand = Callable[[str, str, str, Mapping[str, str]], str]


@dataclass(frozen=True)
class Kind:
    """One kind of resource, as its module declares it; `providers.REGISTRY` holds them."""

    name: str  # the kind's name in settings, summaries, metrics: `ec2`
    payload_key: str  # its manual payload key: `instanceIds`
    title: str  # in sentences: `EC2 instance`
    refs: str  # what names one, for errors: `an EC2 instance id or Name tag`
    factory: Factory
    # The refs only this kind claims (an instance id); None: names, which every kind
    # without a pattern is asked about.
    ref_pattern: re.Pattern[str] | None = None
    # The ARNs of this kind, with groups `region` and `name`; an ARN names one region.
    arn_pattern: re.Pattern[str] | None = None
    # The AWS CLI command a notice offers to snooze a resource of this kind.
    tag_command: TagCommand | None = None
    # Whether the service takes JSON in a tag value (RDS and ECS refuse `{`, `"`, `,`).
    json_tags: bool = True

    def claims(self, ref: str) -> bool:
        """Whether `ref` can only be this kind's (an id of its shape or one of its ARNs)."""
        return any(p is not None and p.fullmatch(ref) for p in (self.ref_pattern, self.arn_pattern))

    def arn_parts(self, ref: str) -> tuple[str, str] | None:
        """(region, name) of one of this kind's ARNs, else None."""
        match = self.arn_pattern.fullmatch(ref) if self.arn_pattern else None
        return (match["region"], match["name"]) if match else None


def cli_json(value: object) -> str:
    """JSON as the AWS CLI takes it on one line (for a kind's `tag_command`)."""
    return json.dumps(value, separators=(",", ":"))


# --- what every kind's provider says the same way -------------------------------------------


class RegionalProvider:
    """What every AWS kind's provider holds for one pass in one region: the settings, the
    pass budget, the account it acts in (`""`: its own) and its main client (`service`),
    made on first use with that account's credentials. A kind adds its own fields."""

    kind: str
    service: ClassVar[str]

    def __init__(
        self,
        config: Config,
        region: str,
        *,
        client: Any = None,
        budget: Budget | None = None,
        credentials: str = OWN,
        account: str = "",
    ) -> None:
        self.region = region
        self.account = account
        self._config = config
        self._client = client
        self._budget = budget or Budget.unlimited()
        self._credentials = credentials
        # Attempts of this pass's accepted actions, written with the state tag (`record`).
        self._attempts: dict[str, Attempts] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.account or 'own'}, {self.region})"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws.client(self.service, self.region, credentials=self._credentials)
        return self._client


def started_at(tags: Mapping[str, str], state_tag: str) -> datetime | None:
    """When the state tag records a start (a running resource's `running_since`); None for
    a stop, no tag or a bad one (the engine reports the bad tag)."""
    try:
        state = parse_state(tags.get(state_tag))
    except StateTagError:
        return None
    return state.time if state is not None and state.action == "start" else None


def error_resource(provider: Provider, rid: str, tags: Mapping[str, str], error: str) -> Resource:
    """A resource that cannot be scheduled, with the reason: its error, nothing done to it."""
    return Resource(
        kind=provider.kind,
        id=rid,
        region=provider.region,
        account=getattr(provider, "account", ""),
        tags=tags,
        power=None,
        error=error,
    )


def pool_answer(got: object) -> ActionError | None:
    """One resource's answer from the pool (`map_guarded`) as the action's result: not
    started in time is deferred, an exception is its AWS error, an `ActionError` itself."""
    if isinstance(got, Deferred):
        return ActionError(DEFERRED, str(got))
    if isinstance(got, BaseException):
        return action_error(got)
    return got if isinstance(got, ActionError) else None
