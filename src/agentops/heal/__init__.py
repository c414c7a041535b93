"""`agentops heal`: a verdict of the diagnosis mapped to a runbook (data) of step plugins, planned by default,
applied with consent, bounded by an attempt budget, a blast-radius breaker, a pause file and a lock per target,
each action verified by the diagnosis again (docs/heal.md)."""
