"""Preference pairs and DPO rounds (see the open issue on scheduled DPO rounds; not built yet)."""
