"""Identity resolution: Splink scores pairs, contrary evidence vetoes, constrained clustering, stable ids."""
