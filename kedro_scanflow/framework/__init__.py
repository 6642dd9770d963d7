"""Kedro framework integration: CLI commands and hooks."""
