"""`marionette serve`: many independent avatar sessions in one process (plugin/session.py), each
with its own portrait, generator state, outputs and control websocket, created and ended over HTTP;
the analysed portraits are shared read-only. See docs/agents.md."""
