"""Ways to show what was built and what a build would do."""
