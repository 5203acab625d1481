"""The on-device dialogue assistant (intent + slots + out-of-scope) and its bundle."""
