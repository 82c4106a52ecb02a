"""The agent's graph: a turn runs load-context -> summarize-if-over-token-budget
-> respond (-> remember-facts -> summarize... when the model learns a fact) ->
record-episode; ending a session runs end-session alone
(``Command(goto="end-session")``)."""

from __future__ import annotations

import weakref

from langchain_core.language_models import BaseChatModel
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from agent.calls import node
from agent.context import Context
from agent.models import default_model, model_name_of
from agent.nodes import END_SESSION
from agent.nodes.end_session import make_end_session
from agent.nodes.load_context import make_load_context
from agent.nodes.record_episode import make_record_episode
from agent.nodes.remember_facts import make_remember_facts
from agent.nodes.respond import make_respond, route_after_respond
from agent.nodes.summarize import make_summarize
from agent.privacy import mask_logs, mask_persisted
from agent.state import InputState, OutputState, State
from agent.tokens import counter_for


def build_graph(
    *,
    model: BaseChatModel | None = None,
    checkpointer: BaseCheckpointSaver | None = None,
    store: BaseStore | None = None,
) -> CompiledStateGraph:
    """The compiled agent graph. ``model`` defaults to the one configured by the
    environment (OpenAI, Azure OpenAI, or the offline model). It runs both
    ways from one implementation of each node: ``invoke``/``stream`` with sync
    or async persistence (``checkpointers.connect``/``stores.connect``, or the
    ``aconnect`` ones from another thread), ``ainvoke``/``astream`` with async
    persistence (``checkpointers.aconnect``/``stores.aconnect``)."""
    mask_logs()  # card numbers and secrets never reach a log, whoever logs them
    model = model or default_model()
    counter = counter_for(model_name_of(model))
    builder = StateGraph(State, input_schema=InputState, output_schema=OutputState, context_schema=Context)
    builder.add_node(
        "load-context", node(make_load_context(counter)), destinations=("summarize-if-over-token-budget", END)
    )
    builder.add_node("summarize-if-over-token-budget", node(make_summarize(model, counter)))
    builder.add_node("respond", node(make_respond(model, counter)))
    builder.add_node("remember-facts", node(make_remember_facts(counter)))
    builder.add_node("record-episode", node(make_record_episode(counter)))
    builder.add_node(END_SESSION, node(make_end_session(model, counter)))
    builder.add_edge(START, "load-context")
    builder.add_edge("summarize-if-over-token-budget", "respond")
    builder.add_conditional_edges("respond", route_after_respond, ["remember-facts", "record-episode"])
    builder.add_edge("remember-facts", "summarize-if-over-token-budget")
    builder.add_edge("record-episode", END)
    builder.add_edge(END_SESSION, END)
    graph = builder.compile(checkpointer=mask_persisted(checkpointer), store=store, name="bank-agent")
    _models[graph] = model
    return graph


_models: "weakref.WeakKeyDictionary[CompiledStateGraph, BaseChatModel]" = weakref.WeakKeyDictionary()


def model_of(graph: CompiledStateGraph) -> BaseChatModel:
    """The model ``build_graph`` gave ``graph`` (the environment's for a graph built elsewhere)."""
    return _models.get(graph) or default_model()
