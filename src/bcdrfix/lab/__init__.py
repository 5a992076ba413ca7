"""The local lab: real Linux hosts (systemd-nspawn) with broken Azure agents, for demos and tests."""
