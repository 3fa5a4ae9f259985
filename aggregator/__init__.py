"""The aggregator: merges chunk results exactly once and writes the plot and results.json."""
