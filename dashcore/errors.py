"""Errors a user can act on.

Pages catch :class:`UserError` and show its message with ``st.error``; anything
else is a bug. Messages say what was received, what is allowed, and the fix.
"""


class UserError(ValueError):
    """A problem with the user's input or request, phrased for the user.

    Example:
        >>> raise UserError("Batch size 0 is not allowed: use a whole number from 1 to 4096.")
    """


class NotFoundError(UserError, LookupError):
    """A named thing (dataset, run, model) does not exist, or no longer does."""


class PermissionDenied(UserError):
    """The signed-in user may not do this to something that isn't theirs."""
