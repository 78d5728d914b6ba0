"""The course's pytest plugins (registered by the root conftest.py)."""
