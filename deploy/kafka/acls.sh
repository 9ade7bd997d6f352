#!/usr/bin/env bash
# Per-agency SCRAM users and ACLs: each agency writes only its own agency topics'
# records (the gateway/SDK enforce "own events only"; ACLs enforce the topics) and
# reads only its own alert topic. Run against the cluster with an admin client config.
#   AGENCIES="QLTT CA THUE SCT KHCN SYT HQ" ./acls.sh admin.properties
set -euo pipefail
CFG=${1:?admin client properties file}
BS=${BOOTSTRAP:-localhost:19092}
AGENCIES=${AGENCIES:-"QLTT CA THUE SCT KHCN SYT HQ"}
kcfg() { kafka-configs.sh --bootstrap-server "$BS" --command-config "$CFG" "$@"; }
kacl() { kafka-acls.sh --bootstrap-server "$BS" --command-config "$CFG" "$@"; }
for a in $AGENCIES; do
  lower=$(echo "$a" | tr '[:upper:]' '[:lower:]')
  pw=$(openssl rand -base64 24)
  kcfg --alter --add-config "SCRAM-SHA-512=[password=$pw]" --entity-type users --entity-name "$a"
  echo "$a $pw" >> scram-credentials.txt
  for t in agency.inspections.v1 agency.violations.v1 agency.tax-anomalies.v1 agency.complaints.v1; do
    kacl --add --allow-principal "User:$a" --operation Write --operation Describe --topic "$t"
  done
  kacl --add --allow-principal "User:$a" --operation Read --operation Describe --topic "alerts.$lower.v1"
  kacl --add --allow-principal "User:$a" --operation Read --group "forwarder-$lower"
done
# Only agencies allowed to request payment blocks write the request topic.
for a in ${BLOCK_AGENCIES:-"CA QLTT SCT"}; do
  kacl --add --allow-principal "User:$a" --operation Write --operation Describe --topic agency.payment-block-requests.v1
done
# The State Bank branch reads requests and writes statuses.
kacl --add --allow-principal User:NHNN --operation Read --operation Describe --topic agency.payment-block-requests.v1
kacl --add --allow-principal User:NHNN --operation Write --operation Describe --topic bank.payment-block-status.v1
kacl --add --allow-principal User:NHNN --operation Read --group state-bank
echo "credentials appended to scram-credentials.txt (hand each agency its own line, then delete the file)"
