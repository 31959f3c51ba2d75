"""The imperative shell: providers, outputs, cache, journal and lock writes."""
