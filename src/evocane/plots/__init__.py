"""Figures. One module per figure family; each function returns a matplotlib Figure and the caller saves it."""

WIDTH = 10.0  # inches: the report's page width at 110 dpi (MAX_FIGURE_PX in tests/report_checks.py)
