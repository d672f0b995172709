"""The model layer: one result type, model adapters, pre/post-processing and a registry."""
