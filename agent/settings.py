"""Every setting the agent reads from the environment, in one place.

Read when asked for (``current()``), never at import, so ``import agent``
reads nothing and a test or an app can change the environment between runs.
A malformed value is a ``SettingsError`` that names the variable and what it
takes, never a traceback from deep inside a client.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from agent.errors import SettingsError

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_AZURE_API_VERSION = "2024-10-21"  # the newest GA data-plane version of Azure OpenAI
KEYLESS_ENDPOINT_KEY = "not-needed"  # local endpoints (Ollama, vLLM, LM Studio) ignore the key


def _text(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or default


def _number(name: str, default: float, *, minimum: float = 0, integer: bool = False) -> float:
    raw = _text(name)
    if raw is None:
        return default
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        value = None
    if value is None or value < minimum or value != value:
        kind = "a whole number" if integer else "a number"
        raise SettingsError(f"{name} must be {kind} of at least {minimum}, got {raw[:40]!r}")
    return value


@dataclass(frozen=True)
class ModelSettings:
    """Which chat model answers, and how patiently."""

    azure_endpoint: str | None
    azure_api_key: str | None
    azure_deployment: str | None
    azure_api_version: str
    openai_api_key: str | None
    openai_base_url: str | None
    model_name: str | None
    timeout: float
    max_retries: int
    embeddings: str | None
    embedding_dims: int

    @property
    def provider(self) -> str:
        """``azure``, ``openai`` or ``offline``."""
        if self.azure_endpoint:
            return "azure"
        if self.openai_api_key or self.openai_base_url:
            return "openai"
        return "offline"


def _azure_api_key() -> str | None:
    if key := _text("AZURE_OPENAI_API_KEY"):
        return key
    if key := _text("AZURE_OPENAI_KEY"):
        warnings.warn("AZURE_OPENAI_KEY is deprecated: name it AZURE_OPENAI_API_KEY", FutureWarning, stacklevel=3)
        return key
    return None


def _azure_endpoint() -> str | None:
    endpoint = _text("AZURE_OPENAI_ENDPOINT")
    if endpoint and not endpoint.lower().startswith(("https://", "http://")):
        raise SettingsError(
            f"AZURE_OPENAI_ENDPOINT must be a URL such as https://{endpoint.split('/')[0]}/ "
            f"(got {endpoint[:60]!r}, without https://)"
        )
    return endpoint


def model_settings() -> ModelSettings:
    """The model settings now in the environment."""
    return ModelSettings(
        azure_endpoint=_azure_endpoint(),
        azure_api_key=_azure_api_key(),
        azure_deployment=_text("AZURE_OPENAI_DEPLOYMENT"),
        azure_api_version=_text("OPENAI_API_VERSION", DEFAULT_AZURE_API_VERSION),
        openai_api_key=_text("OPENAI_API_KEY"),
        openai_base_url=_text("OPENAI_BASE_URL"),
        model_name=_text("OPENAI_MODEL"),
        timeout=model_timeout(),
        max_retries=int(_number("MODEL_MAX_RETRIES", 3, integer=True)),
        embeddings=_text("STORE_EMBEDDINGS"),
        embedding_dims=int(_number("STORE_EMBEDDING_DIMS", 1536, minimum=1, integer=True)),
    )


def model_timeout() -> float:
    """``MODEL_TIMEOUT_SECONDS``: the longest one model answer may take, retries included."""
    return _number("MODEL_TIMEOUT_SECONDS", 60, minimum=0.1)


@dataclass(frozen=True)
class AuthSettings:
    """How the API server checks bearer tokens (``agent/auth.py``)."""

    jwt_secret: str | None
    jwks_url: str | None
    issuer: str | None
    audience: str | None
    disabled: bool


def auth_settings() -> AuthSettings:
    return AuthSettings(
        jwt_secret=_text("AUTH_JWT_SECRET"), jwks_url=_text("AUTH_JWKS_URL"),
        issuer=_text("AUTH_JWT_ISSUER"), audience=_text("AUTH_JWT_AUDIENCE"),
        disabled=_text("AUTH_DISABLED") == "1",
    )


def token_budget() -> int:
    """``TOKEN_BUDGET``: the default most tokens a prompt may hold."""
    return int(_number("TOKEN_BUDGET", 8000, minimum=1, integer=True))


def memory_timeout() -> float:
    """``MEMORY_TIMEOUT_SECONDS``: the longest a turn waits for the store."""
    return _number("MEMORY_TIMEOUT_SECONDS", 10, minimum=0.1)


def session_busy_wait_seconds() -> float:
    """``SESSION_BUSY_WAIT_SECONDS``: how long a send waits for the session's running turn."""
    return _number("SESSION_BUSY_WAIT_SECONDS", 60, minimum=0)


def session_lease_seconds() -> float:
    """``SESSION_LEASE_SECONDS``: how long a Redis turn lease lasts unrenewed."""
    return _number("SESSION_LEASE_SECONDS", 10, minimum=1)


def session_idle_minutes() -> float:
    """``SESSION_IDLE_MINUTES``: how long a silent session waits before it counts as abandoned."""
    return _number("SESSION_IDLE_MINUTES", 30, minimum=0)


def retention_minutes() -> float | None:
    """``MEMORY_RETENTION_DAYS`` as store TTL minutes for facts and episodes;
    ``None`` (unset) keeps them."""
    if _text("MEMORY_RETENTION_DAYS") is None:
        return None
    return _number("MEMORY_RETENTION_DAYS", 0, minimum=1 / 1440) * 24 * 60


def data_dir() -> Path:
    """``BANK_AGENT_DATA_DIR``, else the user's data directory (not the current one)."""
    if raw := _text("BANK_AGENT_DATA_DIR"):
        return Path(raw).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("bank-agent", appauthor=False))


def checkpointer_url() -> str:
    return _text("CHECKPOINTER_URL") or f"sqlite:///{data_dir() / 'checkpoints.db'}"


def store_url() -> str:
    return _text("STORE_URL") or f"sqlite:///{data_dir() / 'store.db'}"


def log_level() -> str:
    return (_text("LOG_LEVEL", "WARNING") or "WARNING").upper()
