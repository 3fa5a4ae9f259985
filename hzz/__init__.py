"""The command line: the one-machine run and the project's tools (hzz run, hzz generate, …)."""
