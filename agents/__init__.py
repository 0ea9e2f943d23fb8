"""Agents: the writer and the reviewer. Prompts live in one module per agent."""
