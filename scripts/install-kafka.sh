#!/usr/bin/env bash
# Makes Apache Kafka runnable for the local cluster (agencybus/cluster.py): Java and Maven
# from Debian when missing, then Kafka's jars fetched once by Maven into ~/.cache/agencybus.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != "0" ]; then SUDO=sudo; else SUDO=""; fi
missing=()
command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
.venv/bin/python -c "from agencybus.kafka_dist import ensure_kafka; print('Kafka jars in', ensure_kafka())"
