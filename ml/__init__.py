"""The machine-learning loop: one module per DVC stage, the BentoML service and its tools."""
