"""Apache Kafka's jars for the local cluster, fetched once per machine by Maven.

``deploy/kafka/pom.xml`` pins the version; ``mvn dependency:copy-dependencies`` copies
``kafka_2.13`` and its runtime dependencies into ``~/.cache/agencybus/kafka-<version>/libs``
(``$XDG_CACHE_HOME`` is honoured). Nothing is downloaded from anywhere but Maven's
repository, and a second call finds the cache and returns at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

POM = Path(__file__).resolve().parents[1] / "deploy" / "kafka" / "pom.xml"
MARKER = ".complete"


class KafkaDistError(RuntimeError):
    """Kafka could not be fetched or run here (no Java, no Maven, no pom): the message says which."""


def pom_path() -> Path:
    if not POM.is_file():
        raise KafkaDistError(f"the pom that pins Kafka is missing: {POM} (run from a source checkout)")
    return POM


def kafka_version() -> str:
    """The Kafka version the pom pins (the pom is the one place it is written)."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom_path().read_text())
    if match is None:
        raise KafkaDistError(f"{POM} has no <kafka.version> property")
    return match.group(1).strip()


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "agencybus"


def java_binary() -> str:
    """``java`` of JAVA_HOME, else the one on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if found is None:
        raise KafkaDistError(
            "no java on PATH (Apache Kafka needs Java 17 or later; apt-get install default-jre)"
        )
    return found


def missing_tools() -> list[str]:
    """Which of java and mvn this machine lacks (mvn only matters before the first fetch)."""
    missing = []
    try:
        java_binary()
    except KafkaDistError:
        missing.append("java")
    if shutil.which("mvn") is None and not _complete(libs_dir()):
        missing.append("mvn")
    return missing


def libs_dir() -> Path:
    return cache_root() / f"kafka-{kafka_version()}" / "libs"


def _pom_digest() -> str:
    return hashlib.sha256(pom_path().read_bytes()).hexdigest()


def _complete(libs: Path) -> bool:
    marker = libs / MARKER
    return marker.is_file() and marker.read_text().strip() == _pom_digest()


def ensure_kafka(timeout_s: float = 900.0) -> Path:
    """The directory of Kafka's jars, fetched with Maven the first time (a lock keeps two fetches apart)."""
    libs = libs_dir()
    if _complete(libs):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaDistError(
            "Kafka is not in the cache yet and there is no mvn on PATH (apt-get install maven)"
        )
    libs.parent.mkdir(parents=True, exist_ok=True)
    with (libs.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(libs):  # another process fetched it while we waited
            return libs
        staging = libs.parent / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        command = [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom_path()),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={staging}",
            "-DincludeScope=runtime",
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise KafkaDistError(f"fetching Kafka with Maven took longer than {timeout_s:.0f} s") from exc
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
            raise KafkaDistError(f"mvn could not fetch Kafka {kafka_version()}:\n{tail}")
        (staging / MARKER).write_text(_pom_digest())
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
    return libs


def classpath() -> str:
    """The JVM classpath of the fetched Kafka (a wildcard over its libs directory)."""
    return f"{ensure_kafka()}/*"
