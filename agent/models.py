"""The chat model: OpenAI, Azure OpenAI, or the offline model, from the environment."""

from __future__ import annotations

import asyncio
import os

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage

from agent.offline_model import OfflineBankModel


class ModelUnavailable(RuntimeError):
    """The model did not answer after its retries; the customer's message is kept."""


def _timeout() -> float:
    return float(os.environ.get("MODEL_TIMEOUT_SECONDS", "60"))


def _retries() -> int:
    return int(os.environ.get("MODEL_MAX_RETRIES", "3"))


def _azure_credentials() -> dict:
    """Azure OpenAI auth: the key from the environment, or else an Entra ID token."""
    if os.environ.get("AZURE_OPENAI_API_KEY"):
        return {}
    from azure.identity import DefaultAzureCredential, get_bearer_token_provider

    scope = "https://cognitiveservices.azure.com/.default"
    return {"azure_ad_token_provider": get_bearer_token_provider(DefaultAzureCredential(), scope)}


def default_model() -> BaseChatModel:
    """Azure OpenAI when ``AZURE_OPENAI_ENDPOINT`` is set (with
    ``AZURE_OPENAI_API_KEY``, or Entra ID when no key is set), OpenAI when
    ``OPENAI_API_KEY`` is, else the offline model. The OpenAI client retries
    timeouts, 429 and 5xx with exponential backoff (honouring Retry-After)."""
    if os.environ.get("AZURE_OPENAI_ENDPOINT"):
        from langchain_openai import AzureChatOpenAI

        return AzureChatOpenAI(
            azure_deployment=os.environ.get("AZURE_OPENAI_DEPLOYMENT"),
            model=os.environ.get("OPENAI_MODEL"),
            timeout=_timeout(),
            max_retries=_retries(),
            **_azure_credentials(),
        )
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=os.environ.get("OPENAI_MODEL", "gpt-4o-mini"),
            timeout=_timeout(),
            max_retries=_retries(),
        )
    return OfflineBankModel()


def default_embeddings():
    """The embeddings model named by ``STORE_EMBEDDINGS`` (an OpenAI model, or
    an Azure OpenAI deployment when ``AZURE_OPENAI_ENDPOINT`` is set), or None."""
    name = os.environ.get("STORE_EMBEDDINGS")
    if not name:
        return None
    if os.environ.get("AZURE_OPENAI_ENDPOINT"):
        from langchain_openai import AzureOpenAIEmbeddings

        return AzureOpenAIEmbeddings(
            azure_deployment=name, max_retries=_retries(), check_embedding_ctx_length=False, **_azure_credentials()
        )
    from langchain_openai import OpenAIEmbeddings

    # No context-length check: it would make tiktoken download an encoding.
    return OpenAIEmbeddings(model=name, max_retries=_retries(), check_embedding_ctx_length=False)


def model_name_of(model: BaseChatModel) -> str | None:
    """The model's name as tiktoken knows it, for token counting."""
    return getattr(model, "model_name", None) or getattr(model, "deployment_name", None)


def unavailable(error: openai.APIError) -> ModelUnavailable:
    """A customer-safe error: the failure's kind and status, never the request."""
    status = getattr(error, "status_code", None)
    kind = type(error).__name__ + (f" {status}" if status else "")
    return ModelUnavailable(
        f"the assistant model is unavailable ({kind}) after retries; "
        "your message is saved, send again or resume the session to retry"
    )


async def call_model(model, prompt: list) -> AIMessage:
    """The model's reply to ``prompt``, or ``ModelUnavailable`` once the
    client's retries are spent, the reply is not a valid completion, or the
    whole call (retries included) took longer than ``MODEL_TIMEOUT_SECONDS``:
    the client's own timeout is per read, so a model trickling bytes would
    otherwise never be stopped."""
    timeout = _timeout()
    try:
        return await asyncio.wait_for(model.ainvoke(prompt), timeout)
    except openai.APIError as error:
        raise unavailable(error) from None
    except TimeoutError:
        raise ModelUnavailable(
            f"the assistant model did not answer within {timeout:g} s (MODEL_TIMEOUT_SECONDS); "
            "your message is saved, send again or resume the session to retry"
        ) from None
    except ValueError as error:  # a 200 whose body is not a chat completion
        raise ModelUnavailable(
            f"the assistant model sent an unreadable answer ({type(error).__name__}); "
            "your message is saved, send again or resume the session to retry"
        ) from None
