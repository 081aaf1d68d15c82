"""Loading a recipe: YAML with positions, interpolation, overrides, validation, JSON Schema, `recipe init`."""
