"""The `.mem` language: reading, parsing, lowering to the JSON form, the schema, and the canonical printer."""
