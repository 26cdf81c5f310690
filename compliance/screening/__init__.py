"""Name screening: the fuzzy matcher and its per-process index of the active list versions."""
