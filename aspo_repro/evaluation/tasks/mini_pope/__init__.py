"""Packaged so that the task folder ships with the wheel (lmms-eval reads it by path)."""
