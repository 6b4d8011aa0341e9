"""Data layer: schema, loaders, filtering, leave-one-out splits, synthetic catalog."""
