"""The graph ``langgraph dev`` and the LangGraph API server serve (``langgraph.json``).

Built when the server loads this module, not when an app imports ``agent``:
the server supplies the checkpointer and store named in ``langgraph.json``.
"""

from agent.graph import build_graph

graph = build_graph()
