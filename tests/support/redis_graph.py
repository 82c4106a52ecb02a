"""A two-node LangGraph graph that appends canned messages, for the Redis tests."""

from typing import Annotated, TypedDict

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages


class Conversation(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def greet(state: Conversation) -> dict:
    return {"messages": [AIMessage("How can I help with your account?")]}


def close(state: Conversation) -> dict:
    return {"messages": [AIMessage("Anything else?")]}


def conversation_graph() -> StateGraph:
    graph = StateGraph(Conversation)
    graph.add_node("greet", greet)
    graph.add_node("close", close)
    graph.add_edge(START, "greet")
    graph.add_edge("greet", "close")
    graph.add_edge("close", END)
    return graph


def turn(text: str) -> dict:
    return {"messages": [HumanMessage(text)]}


def contents(state: dict) -> list[str]:
    return [message.content for message in state["messages"]]


EXPECTED_AFTER_TWO_TURNS = [
    "balance?", "How can I help with your account?", "Anything else?",
    "card?", "How can I help with your account?", "Anything else?",
]
