"""gRPC servers with the standard health service: grpc.health.v1.Health/Check for each listed service.

Params:
    services: ["", "echo.Echo"]    "" (the default) asks about the server as a whole

Metrics: `serving` for "" and `serving:<service>` for each named service (1 SERVING, 0 otherwise), latency_ms.
A service that is not SERVING fails the check (reason assertion) naming the service and its state. An
AutoGen host serves no health service (UNIMPLEMENTED): the message says so and points at the agentrpc probe.
TLS / mutual TLS from the target's `tls` block (ca, cert, key, server_name).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from agentops.core import grpc_channel
from agentops.core.config import Target
from agentops.core.errors import error_text
from agentops.core.grpc_channel import import_grpc
from agentops.core.model import Observation, Reason
from agentops.core.probe import Probe, check_params
from agentops.core.tls import TlsSetupError
from agentops.probes._errors import yield_to_other_checks

NO_HEALTH_SERVICE = ("this server has no grpc.health.v1 service "
                     "(AutoGen hosts serve none: use the agentrpc probe)")


def metric_name(service: str) -> str:
    return f"serving:{service}" if service else "serving"


def service_label(service: str) -> str:
    return f"service {service!r}" if service else "the server"


def open_channel(target: Target) -> Any:
    """A grpc.aio channel to the target, with TLS / mTLS when the target's `tls` block enables it."""
    return grpc_channel.open_channel(target.address or "", target.tls)


def rpc_failure(exc: Any, address: str, timeout: float, tls_enabled: bool) -> Observation:
    """A failed call that says nothing about a service's health: the server could not be asked at all."""
    grpc = import_grpc()

    code = exc.code()
    if code == grpc.StatusCode.UNAVAILABLE:
        reason, text = grpc_channel.unavailable(exc.details() or "", tls_enabled)
        return Observation.failure(reason, f"{address}: {text}")
    details = error_text(Exception(exc.details() or code.name))
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return Observation.failure(Reason.PROTOCOL, f"{address}: {NO_HEALTH_SERVICE}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Observation.failure(Reason.TIMEOUT, f"{address}: no answer within {timeout:g}s")
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return Observation.failure(Reason.AUTH, f"{address}: {code.name}: {details}")
    return Observation.failure(Reason.PROTOCOL, f"{address}: {code.name}: {details}")


class GrpcHealthProbe(Probe):
    kind = "grpc.health"
    target_kinds = ("grpc",)
    description = "standard gRPC health check (grpc.health.v1.Health/Check) per service, TLS/mTLS"
    metrics = {
        "serving": "1 when the server as a whole is SERVING, else 0",
        "serving:<service>": "1 when that service is SERVING, else 0",
        "latency_ms": "time for all the Check calls, connection included",
    }

    def validate_params(self, params: Mapping[str, Any]) -> None:
        check_params(params, {"services"})
        services = params.get("services", [""])
        if not isinstance(services, list) or not services or \
                not all(isinstance(s, str) for s in services):
            raise ValueError('services: expected a list of service names ("" for the whole server)')

    def preload(self) -> None:
        import_grpc()
        from grpc_health.v1 import health_pb2_grpc  # noqa: F401

    async def measure(self, target: Target, params: Mapping[str, Any], timeout: float) -> Observation:
        grpc = import_grpc()
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        address = target.address or ""
        services: list[str] = list(params.get("services", [""]))
        try:
            channel = open_channel(target)
        except TlsSetupError as exc:
            return Observation.failure(Reason.TLS, str(exc))
        states: dict[str, str] = {}
        metrics: dict[str, float] = {}
        problems: list[str] = []
        await yield_to_other_checks(timeout)
        t0 = answered = time.perf_counter()
        deadline = time.monotonic() + timeout
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            for service in services:
                try:
                    reply = await stub.Check(health_pb2.HealthCheckRequest(service=service),
                                             timeout=max(deadline - time.monotonic(), 0.001))
                except grpc.aio.AioRpcError as exc:
                    answered = time.perf_counter()
                    if exc.code() != grpc.StatusCode.NOT_FOUND:
                        return rpc_failure(exc, address, timeout, target.tls.enabled)
                    state = "SERVICE_UNKNOWN"
                    problems.append(f"{service_label(service)} is unknown to the server (SERVICE_UNKNOWN)")
                else:
                    answered = time.perf_counter()
                    state = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
                    if reply.status != health_pb2.HealthCheckResponse.SERVING:
                        problems.append(f"{service_label(service)} is {state}")
                states[service] = state
                metrics[metric_name(service)] = 1.0 if state == "SERVING" else 0.0
        finally:
            await channel.close()
        # The server's time ends with its last reply: the channel's close and this probe's own bookkeeping
        # are agentops' time, and a close waits for the loop like any other step.
        metrics["latency_ms"] = (answered - t0) * 1000.0
        obs = Observation(metrics=metrics, facts={"address": address, "states": states})
        if problems:
            obs.reason = Reason.ASSERTION
            obs.message = "; ".join(problems)
        return obs
