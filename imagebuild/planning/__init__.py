"""Everything between a validated target and a decision: pure, offline, no network."""
