"""Helpers every layer may use: the pass budget, the one thread pool, message text."""
