"""The worker: turns chunk tasks into histogram results."""
