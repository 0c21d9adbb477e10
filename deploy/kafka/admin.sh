#!/bin/sh
# Kafka administration for docker-compose.yml, run inside the apache/kafka image as the
# broker's admin user (SASL PLAIN, password in OKR_KAFKA_ADMIN_PASSWORD):
#
#   admin.sh healthcheck   the broker answers an authenticated client (its health check)
#   admin.sh acls          grant every platform user what it needs, nothing more (the
#                          kafka-acls service runs it once before the platform starts)
#
# Who may do what (the same table as deploy/k8s/strimzi/kafka-users.yaml; both are checked
# against shared/contract by tests/platform/deploy/test_kafka_acls.py): each topic is written by its
# producer alone (goals -> okr.goals.v1, metrics -> okr.rollups.v1, notifications ->
# okr.notifications.v1); a topic's dead-letter topic is written by the services that
# consume the topic; each service reads what it consumes, in its own consumer group, and
# its own topic (the relay checks a recreated topic). Every service may list and create the
# okr.* topics (each process creates missing ones on start). Kafka allows nothing else
# (allow.everyone.if.no.acl.found=false). An integrator that subscribes gets Read and
# Describe on okr.* and Read on its own group, never Write:
#   admin.sh grant crm Read topic okr. prefixed; admin.sh grant crm Read group crm-okr
# The user `integrator` of the external listener (docker-compose.yml) gets just that, for
# the groups named integrator-*: `acls` grants it (integrator_acls).
set -eu

: "${OKR_KAFKA_ADMIN_PASSWORD:?the broker admin's password}"
BOOTSTRAP="${OKR_KAFKA_ADMIN_BOOTSTRAP:-localhost:9092}"
CLIENT_CONFIG="$(mktemp)"
trap 'rm -f "$CLIENT_CONFIG"' EXIT
cat > "$CLIENT_CONFIG" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$OKR_KAFKA_ADMIN_PASSWORD";
EOF

# grant USER OPERATION topic|group NAME [prefixed]
grant() {
    /opt/kafka/bin/kafka-acls.sh --bootstrap-server "$BOOTSTRAP" \
        --command-config "$CLIENT_CONFIG" --add --allow-principal "User:$1" \
        --operation "$2" "--$3" "$4" --resource-pattern-type "${5:-literal}"
}

acls() {
    grant goals Write topic okr.goals.v1
    grant goals Read topic okr.goals.v1

    grant metrics Write topic okr.rollups.v1
    grant metrics Read topic okr.rollups.v1
    grant metrics Read topic okr.goals.v1
    grant metrics Write topic okr.goals.v1.dlq
    grant metrics Read group okr-metrics

    grant notifications Write topic okr.notifications.v1
    grant notifications Read topic okr.notifications.v1
    grant notifications Read topic okr.goals.v1
    grant notifications Read topic okr.rollups.v1
    grant notifications Write topic okr.goals.v1.dlq
    grant notifications Write topic okr.rollups.v1.dlq
    grant notifications Read group okr-notifications

    for user in goals metrics notifications; do
        grant "$user" Describe topic okr. prefixed
        grant "$user" Create topic okr. prefixed
    done
}

integrator_acls() {
    grant integrator Read topic okr. prefixed
    grant integrator Describe topic okr. prefixed
    grant integrator Read group integrator- prefixed
}

case "${1:-}" in
    healthcheck)
        /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" \
            --command-config "$CLIENT_CONFIG" --list > /dev/null ;;
    acls) acls; integrator_acls ;;
    grant) shift; grant "$@" ;;
    *) echo "usage: $0 healthcheck | acls | grant USER OPERATION topic|group NAME [prefixed]" >&2
       exit 2 ;;
esac
