"""Preventive maintenance: playbooks (YAML) of steps (Python) run by `agentops maintain run`.

playbook.py loads and validates playbooks, engine.py plans and runs them (check mode, `when`, timeouts,
consent, lock, audit), steps/ holds the built-in step types, baseline.py the baseline file others read.
"""
