Invoke-BcdrfixSection 'connectivity' {
    # The machine-wide WinHTTP proxy (netsh winhttp), read from its registry blob: flags at 8,
    # proxy length at 12, the proxy list after it.
    $proxy = $null
    $connections = 'Registry::HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections'
    $blob = (Get-ItemProperty -LiteralPath $connections -Name WinHttpSettings -ErrorAction SilentlyContinue).WinHttpSettings
    if ($null -ne $blob -and $blob.Length -ge 16 -and ([BitConverter]::ToInt32($blob, 8) -band 2)) {
        $length = [BitConverter]::ToInt32($blob, 12)
        if ($length -gt 0 -and 16 + $length -le $blob.Length) { $proxy = [System.Text.Encoding]::ASCII.GetString($blob, 16, $length) }
    }
    $timeout = [int]$BcdrfixInput.connect_timeout * 1000
    $results = @(foreach ($target in @($BcdrfixInput.endpoints)) {
            $client = New-Object System.Net.Sockets.TcpClient
            $outcome = [ordered]@{ label = [string]$target.label; host = [string]$target.host; port = [int]$target.port; ok = $false; error = $null }
            try {
                if ($client.ConnectAsync([string]$target.host, [int]$target.port).Wait($timeout)) { $outcome.ok = $true }
                else { $outcome.error = "no answer within $($BcdrfixInput.connect_timeout) s" }
            }
            catch {
                $inner = $_.Exception
                while ($null -ne $inner.InnerException) { $inner = $inner.InnerException }
                $outcome.error = [string]$inner.Message
            }
            finally { $client.Dispose() }
            $outcome
        })
    [ordered]@{ winhttp_proxy = $proxy; endpoints = $results }
}
