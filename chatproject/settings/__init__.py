"""Settings package: base (every setting, read from the environment), local, test, production."""
