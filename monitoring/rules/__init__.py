"""Pure transaction-monitoring rules: schema, typologies, engine and traces (no Django)."""
