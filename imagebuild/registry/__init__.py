"""The model registry: one JSON Schema per model, with prices and capabilities."""
