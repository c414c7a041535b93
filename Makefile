# The two commands of the README. Both work on a fresh clone with no standard input.
.PHONY: run test bench lint

run:  ## set up ./.venv and run `agentops health` on this machine (ARGS="..." adds options)
	@# A WARNING or CRITICAL is health's result, explained by run.sh, not a failed make: only setup failures
	@# and UNKNOWN (bad flags, bad config, nothing could be judged) fail the target.
	@scripts/run.sh $(ARGS); rc=$$?; [ $$rc -le 2 ] || exit $$rc

test:  ## install test dependencies and run the whole suite
	scripts/test.sh

lint:
	.venv/bin/ruff check src tests bench

bench:  ## run the benchmarks (they print ratios against anchors run side by side)
	for b in bench/bench_*.py; do .venv/bin/python $$b || exit $$?; done
