"""Errors that kb shows to people: each says what is wrong, where, and what to do."""


class KbError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits non-zero."""


class ParamError(KbError):
    """A bad value for a named parameter (a query parameter, a field, an option)."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message
