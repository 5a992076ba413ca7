"""The engine: control model, settings, batched observation, applying controls in pyinfra. Knows no platform."""
