"""Linux content: controls, probes, config editors."""
