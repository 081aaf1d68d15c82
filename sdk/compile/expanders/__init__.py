"""Recipe expanders: one module per recipe kind, turning a validated recipe into stage specs."""
