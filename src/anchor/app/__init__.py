"""Use cases: collaborators (store, chain, clock) passed in."""
