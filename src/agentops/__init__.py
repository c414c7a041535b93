import time as _time

__version__ = "0.1.0"


def _process_age_s() -> float:
    """How long ago the kernel started this process (interpreter start-up included), 0.0 where that cannot be
    read. /proc/self/stat's starttime is in clock ticks since boot, the clock CLOCK_BOOTTIME reads."""
    try:
        import os

        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return max(0.0, _time.clock_gettime(_time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


# When this process began (monotonic, wall clock): a command's deadline (`health --timeout`) is a promise
# about the whole process as its caller sees it, so it counts from the kernel's start of the process, which
# includes the interpreter's own start-up (seconds on a machine busy enough), not from this import.
_AGE_S = _process_age_s()
STARTED_MONOTONIC = _time.monotonic() - _AGE_S
STARTED_WALL = _time.time() - _AGE_S
