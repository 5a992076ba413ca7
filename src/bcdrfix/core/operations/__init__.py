"""pyinfra operations shared by every platform."""
