"""The chat model: OpenAI, Azure OpenAI, or the offline model, from the environment."""

from __future__ import annotations

import asyncio
import logging

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage

from agent.calls import call
from agent.errors import ModelUnavailable, SettingsError
from agent.offline_model import OfflineBankModel
from agent.privacy import mask_value
from agent.settings import (
    DEFAULT_OPENAI_MODEL, KEYLESS_ENDPOINT_KEY, ModelSettings, log_level, model_settings, model_timeout,
)


def _entra_token_provider():
    """A bearer-token provider for Azure OpenAI from ``DefaultAzureCredential``
    whose failure is one ``ModelUnavailable`` saying how to sign in, not the
    credential chain's traceback."""
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import DefaultAzureCredential, get_bearer_token_provider

    if log_level() != "DEBUG":
        # The credential chain logs every failed attempt (a dozen lines) at WARNING;
        # the one error below says it all.
        logging.getLogger("azure.identity").setLevel(logging.ERROR)
    scope = "https://cognitiveservices.azure.com/.default"
    provider = get_bearer_token_provider(DefaultAzureCredential(), scope)

    def token() -> str:
        try:
            return provider()
        except ClientAuthenticationError:
            raise ModelUnavailable(
                "Azure OpenAI: no Entra ID credential could sign in (tried environment, managed "
                "identity, Azure CLI, ...); set AZURE_OPENAI_API_KEY, or run `az login` / assign "
                "a managed identity with the 'Cognitive Services OpenAI User' role"
            ) from None

    return token


def _azure_credentials(config: ModelSettings) -> dict:
    """Azure OpenAI auth: the key from the environment, or else an Entra ID token."""
    if config.azure_api_key:
        return {"api_key": config.azure_api_key}
    return {"azure_ad_token_provider": _entra_token_provider()}


def default_model() -> BaseChatModel:
    """Azure OpenAI when ``AZURE_OPENAI_ENDPOINT`` is set (with
    ``AZURE_OPENAI_API_KEY``, or Entra ID when no key is set), OpenAI or any
    compatible endpoint when ``OPENAI_API_KEY`` or ``OPENAI_BASE_URL`` is (a
    local endpoint needs no key), else the offline model. The OpenAI client
    retries timeouts, 429 and 5xx with exponential backoff (honouring
    Retry-After)."""
    config = model_settings()
    if config.provider == "azure":
        from langchain_openai import AzureChatOpenAI

        if not (config.azure_deployment or config.model_name):
            raise SettingsError("AZURE_OPENAI_DEPLOYMENT is required with AZURE_OPENAI_ENDPOINT")
        return AzureChatOpenAI(
            azure_endpoint=config.azure_endpoint,
            azure_deployment=config.azure_deployment,
            api_version=config.azure_api_version,
            model=config.model_name,
            timeout=config.timeout,
            max_retries=config.max_retries,
            **_azure_credentials(config),
        )
    if config.provider == "openai":
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            model=config.model_name or DEFAULT_OPENAI_MODEL,
            base_url=config.openai_base_url,
            api_key=config.openai_api_key or KEYLESS_ENDPOINT_KEY,
            timeout=config.timeout,
            max_retries=config.max_retries,
        )
    return OfflineBankModel()


def default_embeddings():
    """The embeddings model named by ``STORE_EMBEDDINGS`` (an OpenAI model, or
    an Azure OpenAI deployment when ``AZURE_OPENAI_ENDPOINT`` is set), or None."""
    config = model_settings()
    if not config.embeddings:
        return None
    if config.provider == "azure":
        from langchain_openai import AzureOpenAIEmbeddings

        return AzureOpenAIEmbeddings(
            azure_endpoint=config.azure_endpoint, azure_deployment=config.embeddings,
            api_version=config.azure_api_version, max_retries=config.max_retries,
            check_embedding_ctx_length=False, **_azure_credentials(config),
        )
    from langchain_openai import OpenAIEmbeddings

    # No context-length check: it would make tiktoken download an encoding.
    return OpenAIEmbeddings(
        model=config.embeddings, base_url=config.openai_base_url,
        api_key=config.openai_api_key or KEYLESS_ENDPOINT_KEY,
        max_retries=config.max_retries, check_embedding_ctx_length=False,
    )


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
    timeout = model_timeout()
    try:
        return await asyncio.wait_for(call(model.invoke, model.ainvoke, mask_value(prompt)), timeout)
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
