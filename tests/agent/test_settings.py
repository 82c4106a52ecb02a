"""Settings from the environment: what a new user types works, or says what to fix."""

from __future__ import annotations

import subprocess
import sys

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import AzureChatOpenAI, ChatOpenAI

from agent.context import Context
from agent.errors import InvalidContext, ModelUnavailable, SettingsError
from agent.models import call_model, default_model
from agent.settings import DEFAULT_AZURE_API_VERSION
from backends.devservers import ROOT

MODEL_VARIABLES = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "OPENAI_API_VERSION", "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY", "AZURE_OPENAI_KEY", "AZURE_OPENAI_DEPLOYMENT",
)

PROMPT = [SystemMessage("You are a bank's assistant."), HumanMessage("hello")]


@pytest.fixture
def clean_env(monkeypatch):
    for name in MODEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


async def test_a_keyless_local_endpoint_is_used_not_the_offline_model(clean_env, fake_openai):
    clean_env.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    clean_env.setenv("OPENAI_MODEL", "llama3")
    model = default_model()
    assert isinstance(model, ChatOpenAI)
    await call_model(model, PROMPT)
    assert fake_openai.requests[-1]["model"] == "llama3"


async def test_the_old_azure_key_name_still_works_with_a_warning(clean_env, fake_openai):
    clean_env.setenv("AZURE_OPENAI_ENDPOINT", fake_openai.endpoint)
    clean_env.setenv("AZURE_OPENAI_KEY", "azure-test-key")
    clean_env.setenv("AZURE_OPENAI_DEPLOYMENT", "gpt4-deployment")
    with pytest.warns(FutureWarning, match="AZURE_OPENAI_API_KEY"):  # shown to users by default
        model = default_model()
    assert isinstance(model, AzureChatOpenAI)
    await call_model(model, PROMPT)
    path = fake_openai.requests[-1]["path"]
    assert "/deployments/gpt4-deployment/" in path
    assert f"api-version={DEFAULT_AZURE_API_VERSION}" in path, "a documented default API version"


def test_an_azure_endpoint_without_a_scheme_gets_a_hint(clean_env):
    clean_env.setenv("AZURE_OPENAI_ENDPOINT", "myres.openai.azure.com")
    clean_env.setenv("AZURE_OPENAI_API_KEY", "k")
    with pytest.raises(SettingsError, match="https://myres.openai.azure.com/"):
        default_model()


async def test_a_failed_entra_id_sign_in_is_one_clear_error(clean_env, fake_openai):
    clean_env.setenv("AZURE_OPENAI_ENDPOINT", fake_openai.endpoint)
    clean_env.setenv("AZURE_OPENAI_DEPLOYMENT", "gpt4-deployment")
    # Developer credentials only: no managed-identity probe leaves this machine.
    clean_env.setenv("AZURE_TOKEN_CREDENTIALS", "dev")
    model = default_model()
    with pytest.raises(ModelUnavailable, match="AZURE_OPENAI_API_KEY.*az login"):
        await call_model(model, PROMPT)
    assert fake_openai.requests == [], "nothing was sent without a token"


@pytest.mark.parametrize("name, value", [("MODEL_TIMEOUT_SECONDS", "abc"), ("MODEL_MAX_RETRIES", "-1"),
                                         ("TOKEN_BUDGET", "lots"), ("STORE_EMBEDDING_DIMS", "1.5")])
def test_malformed_numbers_name_the_variable(clean_env, name, value):
    clean_env.setenv(name, value)
    read = (lambda: Context(customer_id="C-1")) if name == "TOKEN_BUDGET" else default_model
    with pytest.raises(SettingsError, match=name):
        read()


def test_a_missing_customer_id_is_required_not_invalid():
    with pytest.raises(InvalidContext, match="customer_id is required"):
        Context()


def test_an_unknown_context_key_is_named():
    with pytest.raises(InvalidContext, match="'customer'.*customer_id, token_budget"):
        Context(customer="C-1")


def run_python(code: str, env: dict, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_importing_agent_builds_nothing_and_reads_no_model_settings():
    env = {"PATH": "/usr/bin:/bin", "AZURE_OPENAI_ENDPOINT": "no-scheme.example", "OPENAI_API_VERSION": ""}
    code = ("import sys, agent; from agent import build_graph; "
            "assert 'agent.studio' not in sys.modules; assert 'langchain_openai' not in sys.modules, 'client loaded'")
    result = run_python(code, env)
    assert result.returncode == 0, result.stderr


def test_the_cli_keeps_its_data_in_the_users_data_directory(tmp_path):
    elsewhere = tmp_path / "some-working-dir"
    elsewhere.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "xdg")}
    result = subprocess.run([sys.executable, "-m", "agent.cli", "profile", "--customer", "C-1", "--set", "name=Ana"],
                            env={**env, "PYTHONPATH": str(ROOT)}, cwd=elsewhere, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "xdg" / "bank-agent" / "store.db").exists()
    assert list(elsewhere.iterdir()) == [], "nothing is written to the working directory"


def test_the_cli_loads_no_client_before_a_command_runs():
    """What keeps `bank-agent --help` quick: parsing the command line imports
    neither LangGraph, the OpenAI client, Redis nor Cosmos DB."""
    code = ("import sys, agent.cli; heavy = [m for m in ('langgraph', 'openai', 'redis', 'azure', 'tiktoken') "
            "if m in sys.modules]; assert not heavy, heavy")
    result = run_python(code, {"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
