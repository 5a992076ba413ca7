"""pyinfra connectors that bcdrfix provides as plugins (``pyinfra.connectors`` entry points)."""
