"""The platforms that receive takedown requests (``reference/platforms.yaml``, a SAMPLE).

A platform's code is its symbol of the Avro enum ``Platform``; it names the platform's signing
key, its Kafka principal and its answer topic. :func:`listing_on_platform` is the one check of
whether a listing URL belongs to a platform, used by the agency that writes a request and by the
platform service that receives it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PLATFORMS_FILE = Path(__file__).resolve().parent / "reference" / "platforms.yaml"


class PlatformError(ValueError):
    """The platform registry is malformed, or a code is not in it; the message names the file or the code."""


class PlatformEntry(BaseModel):
    """One platform: its code (Platform enum symbol), name, operator and the hosts of its listings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,31}$")
    name: str = Field(min_length=2)
    operator: str = Field(min_length=2)
    domains: tuple[str, ...] = Field(min_length=1)


class _PlatformFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    platforms: list[PlatformEntry]


@cache
def platforms(path: Path = PLATFORMS_FILE) -> dict[str, PlatformEntry]:
    """Platforms by code; PlatformError naming the file and entry if it is malformed."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        parsed = _PlatformFile.model_validate(data)
    except OSError as exc:
        raise PlatformError(f"{path}: cannot read the platform registry: {exc.strerror}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        raise PlatformError(f"{path}: not a valid platform registry: {exc}") from None
    from schemas.models import Platform

    unknown = [p.code for p in parsed.platforms if p.code not in Platform.__members__]
    if unknown:
        raise PlatformError(
            f"{path}: {unknown} are not symbols of the Avro enum Platform ({', '.join(Platform)})"
        )
    return {p.code: p for p in parsed.platforms}


def platform_codes() -> frozenset[str]:
    """Codes of the platforms that take requests (what a platform header.agency may carry)."""
    return frozenset(platforms())


def platform(code: str) -> PlatformEntry:
    """One platform; PlatformError listing the known codes if ``code`` is not one."""
    found = platforms().get(code.strip().upper())
    if found is None:
        raise PlatformError(
            f"unknown platform {code!r}; the platform registry has {', '.join(sorted(platforms()))} "
            f"({PLATFORMS_FILE.name})"
        )
    return found


def listing_host(url: str) -> str | None:
    """The lower-case host of an http(s) URL, or None when ``url`` is not one.

    ``urlsplit`` raises on some malformed URLs (an unclosed ``[`` of an IPv6 host, a bad port):
    those are not listings either, and a request naming one is refused, not a crash.
    """
    try:
        parts = urlsplit(url.strip())
        hostname = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not hostname:
        return None
    return hostname.lower()


def listing_on_platform(url: str, code: str) -> bool:
    """Whether ``url`` is an http(s) URL on one of the platform's domains (or a subdomain of one)."""
    host = listing_host(url)
    if host is None:
        return False
    return any(host == d or host.endswith(f".{d}") for d in platform(code).domains)


__all__ = [
    "PLATFORMS_FILE",
    "PlatformEntry",
    "PlatformError",
    "listing_host",
    "listing_on_platform",
    "platform",
    "platform_codes",
    "platforms",
]
