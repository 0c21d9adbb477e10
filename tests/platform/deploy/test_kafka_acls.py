"""Kafka ACLs in production: only a topic's producer may write it.

The grants of ``deploy/kafka/admin.sh`` (docker-compose.yml) and of
``deploy/k8s/strimzi/kafka-users.yaml`` (Kubernetes with Strimzi) are one table, checked
here against ``shared/contract``: each topic's producer (``SOURCE_OF``) is the only user
that writes it, its dead-letter topic is written by its consumers alone, and each service
reads what it consumes, in its own consumer group. Each process signs in as its service's
user with settings kafka-python accepts.
"""

from __future__ import annotations

import re

import yaml
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from services.metrics.config import CONSUMER_GROUP as METRICS_GROUP
from services.notifications.config import CONSUMER_GROUP as NOTIFICATIONS_GROUP
from shared.config import KafkaSettings
from shared.contract import SOURCE_OF, Topic
from tests.platform.deploy.conftest import COMPOSE_FILE, DEPLOY, PROCESSES

Grant = tuple[str, str, str, str, str]  # user, operation, resource type, name, pattern

#: The topics each service consumes (services/*/bootstrap.py) and its consumer group.
CONSUMES = {"metrics": ({Topic.GOALS}, METRICS_GROUP),
            "notifications": ({Topic.GOALS, Topic.ROLLUPS}, NOTIFICATIONS_GROUP)}


def producer_of(topic: Topic) -> str:
    return SOURCE_OF[topic].rsplit("/", 1)[1]  # /okr/goals -> the goals service's user


def expected() -> set[Grant]:
    grants: set[Grant] = set()
    for topic in Topic:
        grants |= {(producer_of(topic), "Write", "topic", topic.value, "literal"),
                   (producer_of(topic), "Read", "topic", topic.value, "literal")}
    for user, (topics, group) in CONSUMES.items():
        grants.add((user, "Read", "group", group, "literal"))
        for topic in topics:
            grants |= {(user, "Read", "topic", topic.value, "literal"),
                       (user, "Write", "topic", topic.dead_letter, "literal")}
    for topic in Topic:
        grants |= {(producer_of(topic), operation, "topic", "okr.", "prefixed")
                   for operation in ("Describe", "Create")}
    return grants


def compose_grants() -> set[Grant]:
    script = (DEPLOY / "kafka" / "admin.sh").read_text()
    body = script[script.index("acls() {"):script.index("\n}\n", script.index("acls() {"))]
    grants: set[Grant] = set()
    for line in body.splitlines():
        words = line.split()
        if words[:1] != ["grant"]:
            continue
        users = ["goals", "metrics", "notifications"] if words[1] == '"$user"' else [words[1]]
        for user in users:
            pattern = words[5] if len(words) > 5 else "literal"
            grants.add((user, words[2], words[3], words[4], pattern))
    return grants


def strimzi_grants() -> set[Grant]:
    grants: set[Grant] = set()
    path = DEPLOY / "k8s" / "strimzi" / "kafka-users.yaml"
    for user in yaml.safe_load_all(path.read_text()):
        assert user["kind"] == "KafkaUser" and user["spec"]["authorization"]["type"] == "simple"
        for acl in user["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            pattern = {"literal": "literal", "prefix": "prefixed"}[resource["patternType"]]
            grants |= {(user["metadata"]["name"], operation, resource["type"], resource["name"],
                        pattern) for operation in acl["operations"]}
    return grants


def test_each_topic_is_written_by_its_producer_alone_in_docker_compose() -> None:
    grants = compose_grants()
    assert grants == expected()
    writers = {name: {user for user, operation, _, topic, _ in grants
                      if operation == "Write" and topic == name} for name in Topic}
    assert writers == {topic: {producer_of(topic)} for topic in Topic}


def test_kubernetes_users_have_the_same_grants_as_docker_compose() -> None:
    assert strimzi_grants() == compose_grants()


def test_the_broker_refuses_what_no_acl_allows_and_every_process_signs_in() -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    kafka = compose["services"]["kafka"]["environment"]
    assert kafka["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert kafka["KAFKA_SUPER_USERS"] == "User:admin"
    assert not re.search(r"(^|,)PLAINTEXT:", kafka["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"])
    for process in PROCESSES:
        environment = compose["services"][process.name]["environment"]
        assert environment["OKR_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT", process.name
        assert environment["OKR_KAFKA_SASL_USERNAME"] == process.service, process.name
        assert f"user_{process.service}=" in kafka[
            "KAFKA_LISTENER_NAME_SASL__PLAINTEXT_PLAIN_SASL_JAAS_CONFIG"]


def test_sign_in_settings_are_ones_kafka_python_accepts() -> None:
    settings = KafkaSettings.from_env({
        "OKR_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "OKR_KAFKA_SASL_MECHANISM": "PLAIN",
        "OKR_KAFKA_SASL_USERNAME": "goals", "OKR_KAFKA_SASL_PASSWORD": "secret"})
    security = settings.client_security()
    assert security["sasl_plain_username"] == "goals"
    for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
        assert security.keys() <= client.DEFAULT_CONFIG.keys(), client.__name__
    assert KafkaSettings.from_env({}).client_security() == {}  # the embedded broker
