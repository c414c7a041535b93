"""agentops' own client for AutoGen's `agents.AgentRpc` gRPC service (no autogen import, grpc lazily).

    wire.py      message classes from the committed descriptor set (agent_worker.proto, cloudevent.proto)
    client.py    AgentRpcClient: inventory, ownership, ping, payload size — every call under a deadline
"""
