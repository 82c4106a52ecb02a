"""end-session: close the session and have the model write its episode.

Reached only by ``Command(goto="end-session")`` (``Sessions.end`` and
``Sessions.finalize``, or an API client ending its own thread), never after a
turn. The model writes the episode's sentence once, from the running summary
and the messages still in the state, or, for a session whose conversation has
expired from the checkpointer, from the per-turn record that record-episode
kept in the store. The episode and any deferred memory writes go out together;
if the store cannot take them, the run fails and the session stays open, so
ending it again later loses nothing.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from agent import memory
from agent.calls import call
from agent.context import Context
from agent.errors import MemoryUnavailable
from agent.models import call_model
from agent.nodes import Turn
from agent.nodes.record_episode import episode_of
from agent.nodes.summarize import transcript_lines
from agent.ownership import owned_writes
from agent.prompts import EPISODE, NO_SUMMARY
from agent.state import State
from agent.tokens import TokenCounter

EPISODE_REPLY_TOKENS = 200


async def record_to_end(state: State, turn: Turn) -> tuple[dict, str] | None:
    """The episode to close and what the model writes its sentence from; None
    when there is nothing to record (an expired session with no open record)."""
    messages = state.get("messages") or []
    if messages:
        recent = "\n".join(transcript_lines(messages))
        record = episode_of(state, turn.thread_id, state.get("topics", []), state.get("turns", 0))
        return record, f"{state.get('summary') or NO_SUMMARY}\n{recent}"
    store = turn.store
    item = await memory.bounded(call(store.get, store.aget, memory.episodes_namespace(turn.customer_id), turn.thread_id))
    if item is None or item.value.get("status") != "open":
        return None
    topics = ", ".join(item.value.get("topics") or []) or "none recorded"
    return item.value, f"{item.value.get('summary', '')}\n(The session was not ended by the customer; topics: {topics}.)"


def make_end_session(model: BaseChatModel, counter: TokenCounter):
    writer = model.bind(max_tokens=EPISODE_REPLY_TOKENS)

    async def end_session(state: State, config: RunnableConfig, runtime: Runtime[Context]) -> dict:
        turn = Turn.begin(state, runtime, config, counter)
        if state.get("ended"):
            return {}
        found = await record_to_end(state, turn)
        if found is None:
            return {"ended": True}
        record, summary = found
        prompt = [SystemMessage(EPISODE.format(summary=counter.truncate(summary, turn.budget.total // 2)))]
        sentence = str((await call_model(writer, prompt)).content).strip()
        now = memory.now_iso()
        episode = {**record, "summary": sentence or record.get("summary", ""), "status": "ended",
                   "updated_at": now, "ended_at": now}
        writes = [memory.episode_put(turn.customer_id, episode)]
        if await memory.awrite(turn.store, writes, owned_writes(turn.customer_id, state.get("unsaved_memory"))):
            raise MemoryUnavailable("long-term memory is unavailable; end the session again later")
        return {"ended": True, "unsaved_memory": [], "episode": episode}

    return end_session
