"""The read-only audit: its engine and the report document every report is rendered from."""
