"""The revisions, one per schema version: ``0002`` (the baseline, schema 2) to the head."""
