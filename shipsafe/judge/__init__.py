"""Statistical judges: canary against baseline (pure functions; numpy imported lazily)."""
