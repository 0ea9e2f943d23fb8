"""Agents: the writer, the reviewer and the analyst (paper -> argument structure).

Prompts live in one module per agent; `common` holds what the agents share.
"""
