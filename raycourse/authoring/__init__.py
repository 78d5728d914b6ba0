"""Authoring tools: generate labs from solutions, clean notebooks, benchmark them."""
