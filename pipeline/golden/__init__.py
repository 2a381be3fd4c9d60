"""Golden record: survivorship per attribute, consent state, relationship history, households."""
