"""Providers: the one interface the executor drives, and its implementations."""
