"""Shipping a model: the registry (publish), the image, the budget gate and the rollout record."""
