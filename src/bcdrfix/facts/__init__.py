"""pyinfra facts bcdrfix adds (each module registers what it observes)."""
