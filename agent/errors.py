"""The errors a customer, an operator or an app is shown, in one place.

Each is raised with a message fit to print as it is (the CLI prints
``error: <message>``): what went wrong and what to do, never a secret.
"""

from __future__ import annotations


class SettingsError(ValueError):
    """An environment variable holds a value the agent cannot use."""


class InvalidContext(ValueError):
    """A run's context (customer id, token budget) is not acceptable."""


class InvalidMessage(ValueError):
    """A customer message that cannot be answered as sent."""


class SessionUnavailable(LookupError):
    """The session cannot take another turn: unknown, expired or ended."""


class SessionOwnershipError(PermissionError):
    """A session was resumed by a customer other than the one who started it."""


class ModelUnavailable(RuntimeError):
    """The model did not answer after its retries; the customer's message is kept."""


class MemoryUnavailable(RuntimeError):
    """The store did not answer in time or failed; the turn goes on without it."""


class BudgetExceeded(RuntimeError):
    """A prompt would exceed the token budget (a bug: summarising prevents it)."""


class ImportRejected(ValueError):
    """The file has bad lines (all named); nothing was written."""


class SessionBusy(RuntimeError):
    """Another turn holds the session's lease (the send waited as long as allowed)."""


class LeaseLost(RuntimeError):
    """The turn's lease ran out or was taken over; the turn stopped before writing more."""
