"""The library every service shares: settings, physics, histograms, messages, messaging, merging, plotting."""
