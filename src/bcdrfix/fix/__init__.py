"""Fixing by error code: the controls of a catalog entry, run in-process through pyinfra."""
