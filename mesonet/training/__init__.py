"""Training and evaluating MesoNet: data, recipe, corpora, synthesis (the `train` extra)."""
