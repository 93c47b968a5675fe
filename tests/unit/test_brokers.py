"""One broker or a cluster (shared/brokers.py): the node list and the queue type, as every
process reads them alike (a service and a worker must declare a queue with the same type)."""

from __future__ import annotations

import pytest
from kombu import Exchange, Queue

from shared import brokers, config

CLUSTER = "amqp://u:p@n1:5672/v%2Fx;amqp://u:p@n2:5672/v%2Fx; amqp://u:p@n3:5672/v%2Fx"


def test_a_failover_list_names_every_node_and_one_vhost():
    assert brokers.nodes(CLUSTER) == [
        "amqp://u:p@n1:5672/v%2Fx",
        "amqp://u:p@n2:5672/v%2Fx",
        "amqp://u:p@n3:5672/v%2Fx",
    ]
    assert brokers.nodes("amqp://g:g@h:5672/") == ["amqp://g:g@h:5672/"]
    assert brokers.vhost_of(CLUSTER) == "v/x"
    assert brokers.vhost_of("amqp://g:g@h:5672/") == "/"


@pytest.mark.parametrize(
    ("value", "uri", "quorum"),
    [
        ("", CLUSTER, True),  # several nodes: replicated queues by default
        ("", "amqp://g:g@h:5672/", False),
        ("off", CLUSTER, False),
        ("on", "amqp://g:g@h:5672/", True),
        ("TRUE", "amqp://g:g@h:5672/", True),
        ("0", CLUSTER, False),
    ],
)
def test_the_queue_type_follows_the_setting_or_the_node_count(value, uri, quorum):
    env = {"CYCLONE_QUORUM_QUEUES": value, "CYCLONE_AMQP_URI": uri}
    assert brokers.quorum_wanted(env, uri) is quorum
    settings = config.load(env)
    assert settings.quorum_queues is quorum
    assert brokers.quorum_in(settings.nameko_config()) is quorum


def test_a_setting_that_is_not_on_or_off_stops_the_process():
    with pytest.raises(SystemExit, match="CYCLONE_QUORUM_QUEUES"):
        brokers.quorum_wanted({"CYCLONE_QUORUM_QUEUES": "maybe"}, CLUSTER)


def test_a_quorum_queue_is_a_copy_with_its_own_arguments_kept():
    queue = Queue("q", Exchange("e"), "k", durable=True, queue_arguments={"x-message-ttl": 5})
    made = brokers.durable(queue, True)
    assert made.queue_arguments == {"x-message-ttl": 5, "x-queue-type": "quorum"}
    assert (made.name, made.routing_key, made.durable) == ("q", "k", True)
    assert queue.queue_arguments == {"x-message-ttl": 5}  # the original is left alone
    assert brokers.durable(queue, False) is queue
