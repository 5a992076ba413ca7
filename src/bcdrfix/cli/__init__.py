"""The ``bcdrfix`` command: ``main`` (the group) and one module per command group."""
