"""One exception type for every user-facing failure.

The CLI turns a CoachError into a single line on stderr and a non-zero exit, so bad input
never shows a traceback.
"""


class CoachError(Exception):
    """A problem the user can fix (bad file, bad option, unknown device...)."""
