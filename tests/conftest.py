"""Fixture modules, one per family of real services, each owned by the part of the suite that needs it."""

pytest_plugins = [
    "tests.fixtures.common",
    "tests.fixtures.services",  # redis-server, PostgreSQL (initdb) on free ports
    "tests.fixtures.servers",  # HTTP, /metrics, gRPC health servers, silent listeners
    "tests.fixtures.lab",  # the real AutoGen lab cluster
]
