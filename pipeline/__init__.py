"""customer360: plain functions that do the work (extract, normalise, stage, link, survive, score)."""
