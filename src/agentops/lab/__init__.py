"""A real AutoGen cluster on loopback for demos, tests and fault drills (`agentops lab up|down|status`).

Only the process entry points (`agentops.lab.host`, `agentops.lab.worker`) and `agentops.lab.agents` import
autogen; the manager, layout and log formatter do not, so the base tool can read a lab's state without the
[lab] extra. See docs/lab.md for the layout of a lab state directory and the generated agentops.yaml.
"""
