"""One exception type for every user-facing error.

The CLI turns an :class:`EvocaneError` into a single ``evocane: error: ...`` line on stderr and exit status 2,
so a rule fails with one message that names the file, record or key at fault.
"""


class EvocaneError(Exception):
    """An error caused by the user's input (file, record, config key), not by a bug."""
