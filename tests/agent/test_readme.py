"""Every Python snippet in the README runs as shown (as a plain script, on the
embedded default and the offline model)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from backends.devservers import ROOT

SNIPPETS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_the_readme_has_an_async_and_a_sync_embedding_example():
    assert any("asyncio.run(main())" in s for s in SNIPPETS) and any("SyncSessions" in s for s in SNIPPETS)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"snippet-{i}" for i in range(len(SNIPPETS))])
def test_a_readme_snippet_runs_as_a_script(snippet, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(snippet)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "AZURE_OPENAI_", "CHECKPOINTER_", "STORE_"))}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[offline model]" in done.stdout
