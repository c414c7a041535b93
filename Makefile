# The two commands of the README. Both work on a fresh clone with no standard input.
.PHONY: run test bench lint

run:  ## set up ./.venv and run `agentops health` on this machine
	scripts/run.sh

test:  ## install test dependencies and run the whole suite
	scripts/test.sh

lint:
	.venv/bin/ruff check src tests bench

bench:  ## run the benchmarks (they print ratios against anchors run side by side)
	for b in bench/bench_*.py; do .venv/bin/python $$b || exit $$?; done
