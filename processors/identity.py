"""Seller identity resolution: union-find over identity tokens, with an over-correlation guard.

Two events belong to one seller when their tokens connect, directly or through other
events. The state lives in plain mutable mappings (faust tables in the worker, dicts in
tests), so this module never imports faust or kafka and a resolution costs microseconds.

Identifiers that many unrelated sellers share (a marketplace's escrow account, a
courier's hotline) must never fuse them: a warninglist of tokens that never link, and an
automatic guard that stops a token linking once it has been seen with more than
``hot_token_limit`` distinct clusters.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DEFAULT_WARNINGLIST = Path(__file__).with_name("warninglist.yaml")


class WarninglistError(ValueError):
    """The warninglist file is malformed; the message names the file, entry and problem."""


class WarninglistEntry(BaseModel):
    """One token (or glob pattern such as ``phone:+841900*``) that never links sellers."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=3, pattern=r"^[a-z]+:\S+$")
    reason: str = Field(min_length=3, description="Why this identifier is shared by unrelated sellers")


class WarninglistFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entries: list[WarninglistEntry] = Field(default_factory=list)


@dataclass(frozen=True)
class Warninglist:
    """Exact tokens and glob patterns that never link two sellers."""

    exact: frozenset[str] = frozenset()
    patterns: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_entries(cls, entries: Iterable[WarninglistEntry]) -> Warninglist:
        exact: set[str] = set()
        patterns: list[str] = []
        reasons: dict[str, str] = {}
        for entry in entries:
            if any(ch in entry.token for ch in "*?["):
                patterns.append(entry.token)
            else:
                exact.add(entry.token)
            reasons[entry.token] = entry.reason
        return cls(frozenset(exact), tuple(patterns), reasons)

    def matches(self, token: str) -> bool:
        return token in self.exact or any(fnmatch.fnmatchcase(token, p) for p in self.patterns)


def load_warninglist(path: Path | None = None) -> Warninglist:
    """Read the warninglist YAML; a bad entry fails with the file, entry number and problem."""
    path = path or DEFAULT_WARNINGLIST
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise WarninglistError(f"{path}: cannot read warninglist: {exc}") from None
    try:
        parsed = WarninglistFile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = err["loc"]
            where = f"entry {loc[1]}" if len(loc) > 1 and loc[0] == "entries" else "file"
            field_name = ".".join(str(p) for p in loc[2:]) or ".".join(str(p) for p in loc)
            problems.append(f"{path}: {where}: {field_name}: {err['msg']} (found {err.get('input')!r})")
        raise WarninglistError("\n".join(problems)) from None
    return Warninglist.from_entries(parsed.entries)


class TokenHasher:
    """Keyed hash (HMAC-SHA256) of tokens, so processor state holds no raw personal data.

    The kind prefix (``tax:``, ``phone:``) is kept: it says nothing about the person and
    lets an operator see what kind of identifier a hot token is.
    """

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("identity HMAC secret must not be empty")
        self._secret = secret

    def __call__(self, token: str) -> str:
        kind, _, _ = token.partition(":")
        digest = hmac.new(self._secret, token.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
        return f"{kind}:h{digest}"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def cluster_id_for_token(token: str, namespace: str = "") -> str:
    """Cluster ids derive from a token, so the same first event always makes the same id.

    The namespace (the processor app id) keeps two independent deployments sharing one
    broker, such as two test runs, from publishing cases under the same ids.
    """
    return "S-" + _short_hash(f"{namespace}\0{token}" if namespace else token)


@dataclass
class Resolution:
    """What identity resolution decided for one event."""

    event_id: str
    cluster_id: str
    tokens: list[str]  # state form (keyed-hashed if configured), linking tokens only
    absorbed: list[str] = field(default_factory=list)  # cluster ids merged into cluster_id by this event
    skipped: dict[str, str] = field(default_factory=dict)  # state-form token -> "warninglist" | "hot"
    new_hot: list[str] = field(default_factory=list)
    new_cluster: bool = False
    duplicate: bool = False

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("duplicate")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, duplicate: bool = False) -> Resolution:
        return cls(**data, duplicate=duplicate)


class IdentityResolver:
    """Union-find over tokens held in mutable mappings (faust tables or dicts).

    * ``token_root[token]`` — the cluster the token joined (path-compressed lazily);
    * ``parent[cluster]`` — the surviving cluster of a merged cluster (absent for roots);
    * ``neighbours[token]`` — distinct clusters the token has been seen linking (capped);
    * ``hot[token]`` — tokens that stopped linking, with when and how many clusters;
    * ``memo[event_id]`` — the resolution of each event that merged clusters, so a
      replayed merge gets the same answer (and re-sends the same absorb messages).

    Merges converge on the smallest cluster id, so the outcome does not depend on
    which of two clusters happened to be bigger.
    """

    def __init__(
        self,
        token_root: MutableMapping[str, Any],
        parent: MutableMapping[str, Any],
        neighbours: MutableMapping[str, Any],
        hot: MutableMapping[str, Any],
        memo: MutableMapping[str, Any],
        *,
        warninglist: Warninglist | None = None,
        hot_token_limit: int = 20,
        hasher: TokenHasher | None = None,
        namespace: str = "",
    ) -> None:
        self.token_root = token_root
        self.parent = parent
        self.neighbours = neighbours
        self.hot = hot
        self.memo = memo
        self.warninglist = warninglist or Warninglist()
        self.hot_token_limit = hot_token_limit
        self.hasher = hasher
        self.namespace = namespace

    @classmethod
    def in_memory(cls, **kwargs: Any) -> IdentityResolver:
        """A resolver over plain dicts (tests, benchmarks of the core)."""
        return cls({}, {}, {}, {}, {}, **kwargs)

    def state_token(self, token: str) -> str:
        return self.hasher(token) if self.hasher else token

    def find(self, cluster: str) -> str:
        """Root of a cluster, compressing the path it walked."""
        path = []
        while cluster in self.parent:
            path.append(cluster)
            cluster = self.parent[cluster]
        for node in path[:-1]:
            self.parent[node] = cluster
        return cluster

    def cluster_of(self, token: str) -> str | None:
        """Current cluster of a raw token, or None when it was never seen."""
        root = self.token_root.get(self.state_token(token))
        return self.find(root) if root is not None else None

    def resolve(self, event_id: str, raw_tokens: Sequence[str], at_ms: int = 0) -> Resolution:
        """Join an event's tokens into a cluster; merge clusters the event links.

        ``event_id`` is the event's id scoped by its agency (``schemas.ids.scoped_id``): the memo
        and a tokenless event's own cluster must not be shared with another agency's event.
        """
        known = self.memo.get(event_id)
        if known is not None:
            return Resolution.from_dict(known, duplicate=True)
        skipped: dict[str, str] = {}
        linking: list[str] = []
        for raw in sorted(set(raw_tokens)):
            token = self.state_token(raw)
            if self.warninglist.matches(raw):
                skipped[token] = "warninglist"
            elif token in self.hot:
                skipped[token] = "hot"
            else:
                linking.append(token)
        roots = {t: self.find(self.token_root[t]) for t in linking if t in self.token_root}
        new_hot = self._guard(linking, roots, at_ms, event_id)
        for token in new_hot:
            skipped[token] = "hot"
            linking.remove(token)
            roots.pop(token, None)
        distinct_roots = sorted(set(roots.values()))
        new_cluster = not distinct_roots
        if distinct_roots:
            survivor = distinct_roots[0]
        elif linking:
            survivor = cluster_id_for_token(linking[0], self.namespace)
        else:
            survivor = cluster_id_for_token("event:" + event_id, self.namespace)
        absorbed = distinct_roots[1:]
        for cluster in absorbed:
            self.parent[cluster] = survivor
        for token in linking:
            if self.token_root.get(token) != survivor:
                self.token_root[token] = survivor
        result = Resolution(event_id, survivor, linking, absorbed, skipped, new_hot, new_cluster)
        if absorbed:
            # Only a merge needs remembering: replaying any other event resolves to the same
            # cluster from the tokens alone, while a replayed merge must re-send its absorbs.
            self.memo[event_id] = result.to_dict()
        return result

    def _guard(self, linking: list[str], roots: dict[str, str], at_ms: int, event_id: str) -> list[str]:
        """Count, per known token, the distinct clusters it would link; past the limit it turns hot."""
        became_hot: list[str] = []
        new_tokens = [t for t in linking if t not in roots]
        for token, own_root in roots.items():
            identities = {r for t, r in roots.items() if t != token and r != own_root}
            if new_tokens and any(t != token for t in new_tokens):
                identities.add("new:" + min(t for t in new_tokens if t != token))
            if not identities:
                continue
            seen = list(self.neighbours.get(token) or [own_root])
            changed = False
            for identity in sorted(identities):
                if identity not in seen:
                    seen.append(identity)
                    changed = True
            if len(seen) > self.hot_token_limit:
                became_hot.append(token)
                self.hot[token] = {"since_ms": at_ms, "clusters": len(seen), "event_id": event_id}
                self.neighbours[token] = seen[: self.hot_token_limit + 1]
            elif changed:
                self.neighbours[token] = seen
        return became_hot
