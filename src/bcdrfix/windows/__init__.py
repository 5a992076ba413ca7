"""Windows content: WinRM connector, PowerShell quoting, observation, operations, controls."""
