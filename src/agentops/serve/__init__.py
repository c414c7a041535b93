"""`agentops serve`: one long-running process that runs the health plan on an interval and answers
Prometheus (/metrics, /probe), load balancers (/healthz) and people (/report) from what it last measured.

    options.py   the options and their defaults, declared once
    log.py       structured (JSON) log lines on stderr
    state.py     the loaded plan (config, packs, checks) and the per-check result cache
    scheduler.py each check on its own interval with jitter; the AutoGen view on its own
    cluster.py   the AutoGen view of an agentrpc target: types and owners, topics, workers, ping histogram
    http.py      a small asyncio HTTP/1.1 edge (bounded requests, no keep-alive)
    service.py   the routes, SIGHUP reload, SIGTERM shutdown
"""
