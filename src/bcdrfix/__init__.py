"""bcdrfix: idempotent guest-side fixes for Azure Backup and Azure Site Recovery failures."""

__version__ = "0.1.0"
