"""Published marts: the 360 table, segmentation and the aggregates analysts read."""
