"""The errors a customer, an operator or an app is shown, in one place.

Each is raised with a message fit to print as it is (the CLI prints
``error: <message>``): what went wrong and what to do, never a secret.
"""

from __future__ import annotations


class SettingsError(ValueError):
    """An environment variable holds a value the agent cannot use."""
