"""Errors that kb shows to people: each says what is wrong, where, and what to do."""


class KbError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits non-zero."""
