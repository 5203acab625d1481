"""Reusable Keras losses: distillation terms (`distillation`) and task targets (`task`)."""
