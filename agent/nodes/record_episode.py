"""record-episode: keep this session's one episode current in long-term memory.

Written after every turn, keyed by the session's thread id, so a session that
just stops or expires still leaves its record and replaying a turn rewrites
the same item. If the store is down, the writes wait in the session's state
and go out with a later turn. It costs no model call: the episode describes the topics the
customer raised; the model writes a final sentence once, when the session ends.
"""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from agent import memory
from agent.context import Context
from agent.nodes import Turn, newest_customer_index
from agent.ownership import owned_writes
from agent.state import State
from agent.tokens import TokenCounter
from agent.topics import describe, topics_in


def episode_of(state: State, thread_id: str, topics: list[str], turns: int, **overrides) -> dict:
    return {
        "session_id": thread_id,
        "started_at": state.get("started_at") or memory.now_iso(),
        "updated_at": memory.now_iso(),
        "turns": turns,
        "topics": topics,
        "summary": describe(topics),
        "status": "open",
        **overrides,
    }


def make_record_episode(counter: TokenCounter):
    async def record_episode(state: State, config: RunnableConfig, runtime: Runtime[Context]) -> dict:
        turn = Turn.of(runtime, config, counter)
        messages = state["messages"]
        if state.get("ended"):
            # end-session ran beside the rest of an interrupted turn: its episode is final.
            return {"answered_through": messages[-1].id}
        newest = newest_customer_index(messages)
        question = messages[newest].content if newest < len(messages) else ""
        topics = list(dict.fromkeys([*state.get("topics", []), *topics_in(str(question))]))
        turns = state.get("turns", 0) + 1
        episode = episode_of(state, turn.thread_id, topics, turns)
        writes = [memory.episode_put(turn.customer_id, episode)]
        unsaved = await memory.awrite(turn.store, writes, owned_writes(turn.customer_id, state.get("unsaved_memory")))
        return {"topics": topics, "turns": turns, "unsaved_memory": unsaved, "answered_through": messages[-1].id}

    return record_episode
