"""The DVC pipeline: one module per stage (ingest, validate, prepare, train, evaluate, package), the
schema and the model card."""
