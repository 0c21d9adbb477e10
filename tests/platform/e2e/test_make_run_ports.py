"""``make run`` checks every port it will listen on before starting anything, and moves the
workers' metrics ports with the API ports (``tools/run.py``)."""

from __future__ import annotations

import socket

from tests.conftest import free_port
from tools.run import assign_ports, port_problem


def test_worker_metrics_ports_follow_moved_api_ports() -> None:
    env = {"OKR_GOALS_PORT": "18081", "OKR_METRICS_PORT": "18082",
           "OKR_NOTIFICATIONS_PORT": "18083", "OKR_METRICS_WORKER_METRICS_PORT": "17000"}
    ports = assign_ports(env)
    assert ports == {"OKR_GOALS_PORT": 18081, "OKR_GOALS_WORKER_METRICS_PORT": 19181,
                     "OKR_METRICS_PORT": 18082, "OKR_METRICS_WORKER_METRICS_PORT": 17000,
                     "OKR_NOTIFICATIONS_PORT": 18083,
                     "OKR_NOTIFICATIONS_WORKER_METRICS_PORT": 19183}
    # the workers are told where to listen
    assert env["OKR_GOALS_WORKER_METRICS_PORT"] == "19181"
    assert env["OKR_NOTIFICATIONS_WORKER_METRICS_PORT"] == "19183"


def test_default_ports_are_the_services_own_defaults() -> None:
    assert set(assign_ports({}).values()) == {8081, 8082, 8083, 9181, 9182, 9183}


def test_a_taken_worker_metrics_port_is_named_by_its_variable() -> None:
    free = {"OKR_GOALS_PORT": free_port(), "OKR_GOALS_WORKER_METRICS_PORT": free_port()}
    assert port_problem(free) is None
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        problem = port_problem({**free, "OKR_GOALS_WORKER_METRICS_PORT": taken})
    assert problem == f"port {taken} is taken: set OKR_GOALS_WORKER_METRICS_PORT"


def test_one_port_for_two_variables_or_out_of_range_is_refused() -> None:
    port = free_port()
    problem = port_problem({"OKR_GOALS_PORT": port, "OKR_METRICS_WORKER_METRICS_PORT": port})
    assert problem is not None and "OKR_METRICS_WORKER_METRICS_PORT" in problem
    problem = port_problem(assign_ports({"OKR_NOTIFICATIONS_PORT": "65000"}))
    assert problem == "port 66100 is not a TCP port: set OKR_NOTIFICATIONS_WORKER_METRICS_PORT"
