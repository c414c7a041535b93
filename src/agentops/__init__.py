import time as _time

__version__ = "0.1.0"

# When this process began running agentops (monotonic, wall clock): a command's deadline (`health --timeout`)
# is a promise about the whole process, so it counts from here, not from when the checks start.
STARTED_MONOTONIC = _time.monotonic()
STARTED_WALL = _time.time()
