"""The LangGraph state machine that runs a draft -> review -> revise cycle."""
