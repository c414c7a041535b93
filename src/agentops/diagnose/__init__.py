"""AutoGen-aware diagnosis: `diagnose message`, `diagnose agent` (and `diagnose performance`, see profile/).

    engine.py     one deadline, layers that measure and are judged into Results
    layers.py     the layers of a message's path: DNS … host … registration … worker … ping … logs … machine
    verdict.py    which known failure mode the results support (knowledge.py: cause, evidence, fix)
    classify.py   error text → cause and fix (also used by `agentops logs`)
    process.py    a worker's process: state, stopped since when, connections to the host port
    logscan.py    the few log signals a diagnosis needs
"""
