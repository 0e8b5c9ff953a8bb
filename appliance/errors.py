"""Exit codes (CLI contract) and the exceptions that map to them."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3


class UsageError(Exception):
    """Bad input or configuration: exit 2 with a one-line reason."""

    exit_code = EXIT_USAGE


class Refused(Exception):
    """Refused for safety: exit 3, nothing touched."""

    exit_code = EXIT_REFUSED
