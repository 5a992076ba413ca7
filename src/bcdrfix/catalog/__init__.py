"""The error-code catalog: loading and validation against the control registry, lookup, explain."""
