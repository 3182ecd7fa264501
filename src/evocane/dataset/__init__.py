"""Dataset room: splits, windows, per-base region labels, leakage audit, exports and dataset cards."""
