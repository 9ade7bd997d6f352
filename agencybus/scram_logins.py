"""Wait until every broker accepts a new SCRAM login, before anyone connects as that user.

A SCRAM credential reaches the brokers through the KRaft metadata log: the controller has it
when ``alter_user_scram_credentials`` answers, and a broker that has not replayed the record yet
refuses the login (an authentication failure, not a retriable error). Whoever creates a user and
hands it to a role right away (``agencybus acl apply``, ``KafkaCluster.create_user``) waits here:
one login per user and broker, repeated until each broker alone accepts it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from kafka.errors import KafkaError
from pydantic import SecretStr

from agencybus.kafka import make_admin
from agencybus.settings import Settings


class LoginsRefused(RuntimeError):
    """Some broker still refused some new login when the wait ended; the message names a few."""


def authenticates(settings: Settings, user: str, password: SecretStr, broker: str) -> str | None:
    """None when ``broker`` alone accepts ``user``'s SCRAM login, else what it answered."""
    try:
        make_admin(
            settings.model_copy(
                update={"bootstrap_servers": broker, "sasl_username": user, "sasl_password": password}
            ),
            bootstrap_timeout_ms=5000,
            request_timeout_ms=5000,
            client_id="scram-login-check",
        ).close()
    except KafkaError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def wait_for_logins(
    settings: Settings,
    brokers: Sequence[str],
    passwords: Mapping[str, SecretStr],
    *,
    timeout_s: float = 60.0,
) -> None:
    """Return once every broker (``host:port``) authenticates every user of ``passwords``.

    ``settings`` gives the rest of the connection (protocol, mechanism, CA); LoginsRefused after
    ``timeout_s`` names the refusals still pending.
    """
    pending = {(user, broker) for user in passwords for broker in brokers}
    deadline = time.monotonic() + timeout_s
    last: dict[tuple[str, str], str] = {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        while pending:
            pairs = sorted(pending)
            answers = pool.map(
                lambda pair: authenticates(settings, pair[0], passwords[pair[0]], pair[1]), pairs
            )
            for pair, answer in zip(pairs, answers, strict=True):
                if answer is None:
                    pending.discard(pair)
                else:
                    last[pair] = answer
            if pending and time.monotonic() > deadline:
                sample = "; ".join(f"{u} on {b}: {last[(u, b)]}" for u, b in sorted(pending)[:3])
                raise LoginsRefused(
                    f"{len(pending)} new SCRAM logins still refused after {timeout_s:.0f} s ({sample})"
                )
            if pending:
                time.sleep(0.5)


__all__ = ["LoginsRefused", "authenticates", "wait_for_logins"]
