from agentops.cli.main import run

run()
