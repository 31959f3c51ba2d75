"""Manifests: YAML with source positions, expanded through vars, matrix and Jinja."""
