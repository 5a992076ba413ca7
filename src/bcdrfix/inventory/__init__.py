"""Inventories: one loader (pyinfra's own), ``--limit``, shards, machines not to contact, Azure."""
