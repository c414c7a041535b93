"""agentops' AgentRpc client against the real lab cluster (a GrpcWorkerAgentRuntimeHost and two workers in
their own processes) and against things that are not an AgentRpc host: a closed port, a socket that never
answers, a plain HTTP server, a gRPC server without the service, a name that does not resolve."""

import asyncio
import uuid

import pytest

from agentops.autogen.client import (
    MAX_MESSAGE_BYTES,
    AgentRpcClient,
    AgentRpcError,
    build_request,
    message_size,
)
from agentops.autogen.wire import wire
from agentops.core.model import Reason
from tests.fixtures.common import free_port, wait_for
from tests.fixtures.lab import PING

pytestmark = pytest.mark.lab


def run(coro):
    return asyncio.run(coro)


async def _with_client(address, fn):
    async with AgentRpcClient(address) as client:
        return await fn(client)


def test_inventory_lists_every_lab_type_and_topic(lab):
    inv = run(_with_client(lab.address, lambda c: c.inventory(timeout=3)))
    expected = sorted(t for w in lab.manifest.workers for t in w.agent_types)
    assert inv.agent_types == expected
    assert inv.topics == ["lab.events"]
    # RoutedAgent.register adds "<type>:"; the lab adds lab.events: two per type, nothing else
    assert len(inv.subscriptions) == 2 * len(expected)
    assert {(s.kind, s.topic) for s in inv.subscriptions if s.agent_type == "echo"} == {("prefix", "echo:"),
                                                                                      ("type", "lab.events")}
    assert inv.latency_ms > 0 and inv.connect_ms > 0


def test_ownership_names_the_owning_workers_client(lab):
    async def ask(client):
        return [await client.ownership(t, timeout=3) for t in ("echo", "failing", "echo2")]

    echo, failing, echo2 = run(_with_client(lab.address, ask))
    assert echo.owned and echo.owner_client_id == lab.client_id("w1")
    assert failing.owned and failing.owner_client_id == lab.client_id("w2")
    assert echo2.owner_client_id == failing.owner_client_id  # one worker, one client id
    assert not echo.released


def _raw_register(address, agent_type, client_id):
    """RegisterAgent with no channel open: what a careless prober does (leaves a stale registration)."""
    async def go(client):
        w = wire()
        await client.connect(3)
        await client._unary("RegisterAgent", w.RegisterAgentTypeResponse)(
            w.RegisterAgentTypeRequest(type=agent_type), timeout=3, metadata=(("client-id", client_id),))
    return run(_with_client(address, go))


def test_a_free_type_is_left_free(lab):
    agent_type = f"agentops-free-{uuid.uuid4().hex[:8]}"

    async def twice():
        async with AgentRpcClient(lab.address) as a, AgentRpcClient(lab.address) as b:
            return await a.ownership(agent_type, timeout=3), await b.ownership(agent_type, timeout=3)

    first, second = run(twice())
    assert not first.owned and first.released
    # Another client's RegisterAgent succeeds: the first check left nothing behind.
    assert not second.owned and second.released
    inv = run(_with_client(lab.address, lambda c: c.inventory(timeout=3)))
    assert agent_type not in inv.agent_types


def test_a_stale_registration_is_what_the_cleanup_prevents(lab):
    """Control for the test above: without the open-channel dance a registration stays forever."""
    agent_type = f"agentops-stale-{uuid.uuid4().hex[:8]}"
    stale_client = str(uuid.uuid4())
    _raw_register(lab.address, agent_type, stale_client)
    own = run(_with_client(lab.address, lambda c: c.ownership(agent_type, timeout=3)))
    assert own.owned and own.owner_client_id == stale_client


def ping(lab, agent_type, timeout=3.0, **kwargs):
    args = {**PING, **kwargs}
    return run(_with_client(lab.address, lambda c: c.ping(agent_type, timeout=timeout, **args)))


def test_ping_echo_replies_and_the_worker_log_carries_its_ids(lab):
    result = ping(lab, "echo")
    assert result.outcome == "reply", result
    assert result.reply_type == "Pong"
    assert result.reply == {"text": "hi", "agent": "echo/agentops-probe", "worker": "w1"}
    assert result.latency_ms > 0 and result.connect_ms > 0 and result.key == "agentops-probe"
    handled = wait_for(lambda: lab.log_records("w1", message_id=result.request_id, logger="agentops.lab.agents"),
                       what="the echo agent's log line")
    assert handled[0]["agent_id"] == "echo/agentops-probe" and handled[0]["trace_id"] == result.trace_id


def test_two_pings_use_distinct_request_ids(lab):
    a, b = ping(lab, "echo2"), ping(lab, "echo2")
    assert a.outcome == b.outcome == "reply" and a.request_id != b.request_id
    assert a.reply["worker"] == "w2"


def test_ping_failing_returns_the_handlers_error(lab):
    result = ping(lab, "failing")
    assert result.outcome == "error"
    assert result.error == "failing agent: deliberate failure handling 'hi'"


def test_ping_none_gets_no_reply_and_the_worker_logs_why(lab):
    result = ping(lab, "none", timeout=1.0)
    assert result.outcome == "no_reply" and result.latency_ms is None
    errors = wait_for(lambda: [r for r in lab.log_records("w2", message_id=result.request_id, level="ERROR")
                               if r["exception"]], what="the worker's serializer error")
    assert "Unknown type NoneType" in errors[0]["exception"].splitlines()[-1]


def test_ping_unregistered_type_gets_no_reply_and_the_host_says_not_found(lab):
    ghost = f"ghost-{uuid.uuid4().hex[:8]}"
    result = ping(lab, ghost, timeout=0.5)
    assert result.outcome == "no_reply"
    wait_for(lambda: lab.log_records("host", message=f"Agent {ghost} not found, failed to deliver message."),
             what="the host's 'not found' line")


def test_ping_slow_past_the_deadline_is_no_reply_within_it(lab):
    result = ping(lab, "slow", timeout=0.5)
    assert result.outcome == "no_reply"


def test_oversized_payload_is_refused_without_sending(lab):
    payload = {"text": "x" * MAX_MESSAGE_BYTES}
    result = ping(lab, "echo", payload=payload)
    assert result.outcome == "too_large" and result.size_bytes > MAX_MESSAGE_BYTES
    assert result.connect_ms is None  # refused before connecting
    assert not lab.log_records("host", message_id=result.request_id)
    assert not any(result.request_id in r["message"] for r in lab.log_records("host"))


def test_the_4_mib_limit_is_the_hosts(fresh_lab):
    """Verifies the protocol fact the size check rests on, with raw streams the client would refuse to send."""
    import grpc

    ghost = "nobody-home"  # an unregistered type: the host accepts and drops it, no worker involved

    async def raw_send(client, size_target):
        n = MAX_MESSAGE_BYTES - message_size(ghost, "Ping", "", key="k") - 16
        while message_size(ghost, "Ping", "x" * (n + 1), key="k") <= size_target:
            n += 1
        msg = build_request(ghost, "k", "Ping", "x" * n)
        assert msg.ByteSize() == size_target
        call = client._stream()(metadata=client._metadata(), timeout=3)
        await call.write(msg)
        try:
            await asyncio.wait_for(call.read(), 1.0)
            return "answered"
        except TimeoutError:
            return "alive"  # no reply (none is due) and no error: the stream stayed open
        except grpc.aio.AioRpcError as exc:
            return exc.code().name
        finally:
            call.cancel()

    async def go(client):
        await client.connect(3)
        return await raw_send(client, MAX_MESSAGE_BYTES), await raw_send(client, MAX_MESSAGE_BYTES + 1)

    at_limit, over = run(_with_client(fresh_lab.address, go))
    assert at_limit == "alive"
    assert over == "RESOURCE_EXHAUSTED"  # the host ends the sender's stream


def test_connection_failures_are_classified(http_server, grpc_bare_server, silent_listener):
    async def reason_for(address, timeout=2.0):
        async with AgentRpcClient(address) as client:
            with pytest.raises(AgentRpcError) as err:
                await client.inventory(timeout)
            return err.value.reason, err.value.message

    assert run(reason_for(f"127.0.0.1:{free_port()}"))[0] is Reason.CONNECT
    reason, message = run(reason_for(f"127.0.0.1:{silent_listener.port}", timeout=0.5))
    assert reason is Reason.TIMEOUT and "0.5s" in message
    reason, message = run(reason_for(f"127.0.0.1:{http_server.port}"))
    assert reason is Reason.PROTOCOL and "HTTP/2" in message
    reason, message = run(reason_for(grpc_bare_server.address))
    assert reason is Reason.PROTOCOL and "without the agents.AgentRpc service" in message
    assert run(reason_for("no-such-host.invalid:50051"))[0] is Reason.DNS


def test_ping_reports_connection_failure_as_its_outcome():
    result = run(_with_client(f"127.0.0.1:{free_port()}",
                              lambda c: c.ping("echo", timeout=2, **PING)))
    assert result.outcome == "connect_failed" and result.reason is Reason.CONNECT
    assert "Connection refused" in result.error
