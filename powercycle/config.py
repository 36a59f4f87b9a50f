"""Settings, read once per entry point from the environment (Lambda style).

Every variable is converted and checked here, so a typo fails the run loudly with the
variable's name instead of turning into a silent live run or a silent no-op.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from powercycle.core import tags

DEFAULT_TAG = "ec2Powercycle"
# Production by its usual spellings (keys and values compared ignoring case).
DEFAULT_EXCLUDE = "environment=p,environment=prod,environment=production"
DEFAULT_CASTAI_URL = "https://api.cast.ai"
DEFAULT_SECRET_NAME = "CastAI-API"  # noqa: S105 - a secret's name, not a secret

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def registered_kinds() -> tuple[str, ...]:
    """The names of the kinds the registry holds (`providers.REGISTRY`), in order."""
    from powercycle.providers import REGISTRY

    return tuple(REGISTRY)


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def parse_bool(name: str, raw: str) -> bool:
    """Strict boolean: an unknown word is an error, never a default."""
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean; use one of true/false/1/0/yes/no")


def parse_exclusions(name: str, raw: str) -> tuple[tuple[str, str], ...]:
    """`key=value[,key=value...]`: resources with any of these tags are never touched.

    Keys and values are compared case-insensitively, surrounding spaces ignored:
    `Environment=P` is production as much as `environment=p` is.
    """
    pairs: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{name}: {item!r} is not of the form key=value")
        pairs.append((key.strip().lower(), value.strip().lower()))
    return tuple(pairs)


@dataclass(frozen=True)
class Config:
    tag: str = DEFAULT_TAG
    dry_run: bool = False
    regions: tuple[str, ...] = ("us-east-1",)
    kinds: tuple[str, ...] = field(default_factory=registered_kinds)
    exclude: tuple[tuple[str, str], ...] = (
        ("environment", "p"),
        ("environment", "prod"),
        ("environment", "production"),
    )
    default_tz: str = "UTC"
    url_allowlist: tuple[str, ...] = ()
    # POWERCYCLE_SCHEDULES: the schedule library's location (repr=False: a URL may hold a
    # password or a signature).
    schedules: str | None = field(default=None, repr=False)
    # repr=False: a user-info password may sit in the URL.
    castai_api_url: str = field(default=DEFAULT_CASTAI_URL, repr=False)
    # repr=False: the key must never show up in a log line or a traceback.
    castai_api_key: str | None = field(default=None, repr=False)
    castai_secret_name: str = DEFAULT_SECRET_NAME
    # CASTAI_SECRET_NAME set to another name than the default: a secret that cannot be read
    # is then an error on the clusters needing it, never "CAST AI not configured".
    castai_secret_set: bool = False
    castai_resume_instance_type: str | None = None
    # A tag is a request, never a grant (design): the key that seals memories, the types
    # a fallback may be larger than its own, the types a tag may resume CAST AI on.
    key_secret: str = "powercycle/key"  # noqa: S105 - a secret's name
    allowed_types: tuple[str, ...] = ()
    castai_resume_instance_types: tuple[str, ...] = ()
    sns_topic_arn: str | None = None
    # Scale (design: "Interfaces added in turn 2 > Scale").
    all_regions: bool = False  # POWERCYCLE_REGIONS=all: every region enabled for the account
    account_roles: tuple[str, ...] = ()
    external_id: str | None = field(default=None, repr=False)
    skip_own_account: bool = False
    fanout_threshold: int = 8
    # The pass budget outside Lambda (inside, the invocation's remaining time).
    budget_seconds: float = 600.0
    notice_minutes: int = 15
    max_attempts: int = 3
    state_tag: str = tags.STATE
    skip_until_tag: str = tags.SKIP_UNTIL
    # In-run retries of a refused batch (capacity, throttling) and their first delay.
    action_retries: int = 2
    retry_delay_s: float = 1.0
    # Links in the warnings (design: "Extend from the warning"; docs/links.md): the
    # function URL (or `auto`: looked up by the function itself), the hours offered and
    # their bound, and the notices' format (`text` or `chatbot`).
    link_url: str | None = None
    link_hours: tuple[int, ...] = (1, 3)
    link_max_hours: int = 12
    notice_format: Literal["text", "chatbot"] = "text"
    # How long a warm process keeps a secret it read (aws/secrets.py); 0: read at each need.
    secret_max_age_s: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, need_region: bool = True) -> Config:
        """Settings from the environment; `need_region=False` for commands that touch no AWS."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() else None

        regions_raw = get("POWERCYCLE_REGIONS")
        all_regions = (regions_raw or "").lower() == "all"
        if regions_raw and not all_regions:
            regions = tuple(r.strip() for r in regions_raw.split(",") if r.strip())
        else:
            default_region = get("AWS_REGION") or get("AWS_DEFAULT_REGION")
            if not default_region and env is os.environ:
                default_region = _profile_region()
            if not default_region and need_region and not all_regions:
                raise ConfigError(
                    "no region: set POWERCYCLE_REGIONS (comma list or 'all'), AWS_REGION, "
                    "or a region in your AWS profile (--region on the command line)"
                )
            regions = (default_region,) if default_region else ()

        default_tz = get("POWERCYCLE_DEFAULT_TZ") or "UTC"
        try:
            ZoneInfo(default_tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(
                f"POWERCYCLE_DEFAULT_TZ={default_tz!r} is not a known IANA time zone"
            ) from exc

        known = registered_kinds()
        kinds = tuple(
            k.strip().lower() for k in (get("POWERCYCLE_KINDS") or ",".join(known)).split(",")
        )
        unknown = [k for k in kinds if k not in known]
        if unknown or not kinds:
            raise ConfigError(
                f"POWERCYCLE_KINDS: {unknown[0] if unknown else ''!r} is not one of "
                f"{', '.join(known)}"
            )

        allowlist_raw = get("POWERCYCLE_URL_ALLOWLIST") or ""
        roles = tuple(r.strip() for r in (get("POWERCYCLE_ACCOUNT_ROLES") or "").split(","))
        for role in filter(None, roles):
            if not role.startswith("arn:") or ":role/" not in role:
                raise ConfigError(f"POWERCYCLE_ACCOUNT_ROLES: {role!r} is not a role ARN")
        link_max_hours = _number(env, "POWERCYCLE_LINK_MAX_HOURS", 12, minimum=1)
        link_hours = _link_hours(get("POWERCYCLE_LINK_HOURS"), link_max_hours)
        return cls(
            tag=get("POWERCYCLE_TAG") or DEFAULT_TAG,
            dry_run=parse_bool("POWERCYCLE_DRY_RUN", env.get("POWERCYCLE_DRY_RUN", "")),
            regions=regions,
            kinds=kinds,
            exclude=parse_exclusions(
                "POWERCYCLE_EXCLUDE", env.get("POWERCYCLE_EXCLUDE", DEFAULT_EXCLUDE)
            ),
            default_tz=default_tz,
            url_allowlist=tuple(p.strip() for p in allowlist_raw.split(",") if p.strip()),
            schedules=_library(get("POWERCYCLE_SCHEDULES")),
            castai_api_url=(get("CASTAI_API_URL") or DEFAULT_CASTAI_URL).rstrip("/"),
            castai_api_key=get("CASTAI_API_KEY"),
            castai_secret_name=get("CASTAI_SECRET_NAME") or DEFAULT_SECRET_NAME,
            castai_secret_set=(get("CASTAI_SECRET_NAME") or DEFAULT_SECRET_NAME)
            != DEFAULT_SECRET_NAME,
            castai_resume_instance_type=get("CASTAI_RESUME_INSTANCE_TYPE"),
            key_secret=get("POWERCYCLE_KEY_SECRET") or "powercycle/key",
            allowed_types=_list(get("POWERCYCLE_ALLOWED_TYPES")),
            castai_resume_instance_types=_list(get("CASTAI_RESUME_INSTANCE_TYPES")),
            sns_topic_arn=get("POWERCYCLE_SNS_TOPIC_ARN"),
            all_regions=all_regions,
            account_roles=tuple(filter(None, roles)),
            external_id=get("POWERCYCLE_EXTERNAL_ID"),
            skip_own_account=parse_bool(
                "POWERCYCLE_SKIP_OWN_ACCOUNT", env.get("POWERCYCLE_SKIP_OWN_ACCOUNT", "")
            ),
            fanout_threshold=_number(env, "POWERCYCLE_FANOUT_THRESHOLD", 8, minimum=1),
            budget_seconds=_number(env, "POWERCYCLE_BUDGET_SECONDS", 600, minimum=1),
            notice_minutes=_number(env, "POWERCYCLE_NOTICE_MINUTES", 15, minimum=0),
            max_attempts=_number(env, "POWERCYCLE_MAX_ATTEMPTS", 3, minimum=1),
            link_url=_link_url(get("POWERCYCLE_LINK_URL")),
            link_hours=link_hours,
            link_max_hours=link_max_hours,
            notice_format=_notice_format(get("POWERCYCLE_NOTICE_FORMAT")),
            secret_max_age_s=_number(env, "POWERCYCLE_SECRET_MAX_AGE_S", 300, minimum=0),
        )

    def with_overrides(
        self, *, dry_run: bool | None = None, regions: tuple[str, ...] | None = None
    ) -> Config:
        """The same settings with what an event or a CLI flag asked for: regions named
        here replace the environment's, `POWERCYCLE_REGIONS=all` included."""
        return replace(
            self,
            dry_run=self.dry_run if dry_run is None else dry_run,
            regions=regions or self.regions,
            all_regions=False if regions else self.all_regions,
        )

    def excluded_by(self, tags: Mapping[str, str]) -> str | None:
        """The `key=value` exclusion these tags match (keys and values case-insensitive)."""
        lowered = {k.strip().lower(): v.strip().lower() for k, v in tags.items()}
        for key, value in self.exclude:
            if lowered.get(key.lower()) == value.lower():
                return f"{key}={value}"
        return None


def _library(raw: str | None) -> str | None:
    """POWERCYCLE_SCHEDULES: one https:// (http:// under the allowlist) or s3:// location."""
    if raw is None:
        return None
    if not raw.lower().startswith(("https://", "http://", "s3://")) or "#" in raw:
        # Not quoted whole: a URL may hold a password.
        raise ConfigError(
            f"POWERCYCLE_SCHEDULES (starting {raw[:8]!r}) must be the https:// or s3:// "
            "location of a document of named schedules, without #name"
        )
    return raw


def _link_url(raw: str | None) -> str | None:
    """POWERCYCLE_LINK_URL: an https:// address (the function URL) or `auto`."""
    if raw is None or raw.lower() == "auto":
        return raw and raw.lower()
    if not raw.lower().startswith("https://") or any(c in raw for c in "?#"):
        raise ConfigError(
            f"POWERCYCLE_LINK_URL={raw[:60]!r} must be the function URL (https://..., no ? or #) "
            "or auto"
        )
    return raw.rstrip("/")


def _link_hours(raw: str | None, maximum: int) -> tuple[int, ...]:
    """POWERCYCLE_LINK_HOURS: whole hours, comma list, each 1..POWERCYCLE_LINK_MAX_HOURS."""
    if raw is None:
        return tuple(h for h in (1, 3) if h <= maximum)
    hours = []
    for item in (p.strip() for p in raw.split(",")):
        if not item.isdigit() or not 1 <= int(item) <= maximum:
            raise ConfigError(
                f"POWERCYCLE_LINK_HOURS={raw!r}: {item!r} is not whole hours from 1 to "
                f"{maximum} (POWERCYCLE_LINK_MAX_HOURS), e.g. 1,3"
            )
        hours.append(int(item))
    return tuple(sorted(set(hours)))


def _notice_format(raw: str | None) -> Literal["text", "chatbot"]:
    value = (raw or "text").lower()
    if value not in ("text", "chatbot"):
        raise ConfigError(f"POWERCYCLE_NOTICE_FORMAT={raw!r} is not one of text, chatbot")
    return "chatbot" if value == "chatbot" else "text"


def _list(raw: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (raw or "").split(",") if p.strip())


def _number(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _profile_region() -> str | None:
    """The region of the AWS profile or config file, as the AWS CLI would find it."""
    from powercycle import aws

    try:
        return aws.default_region()
    except Exception:  # a broken config file is reported by the first AWS call instead
        return None
