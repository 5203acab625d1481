"""Reusable Keras layers: masked pooling, the hashed n-gram bag, word gather."""
