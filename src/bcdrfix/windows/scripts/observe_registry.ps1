Invoke-BcdrfixSection 'registry' {
    $items = @(foreach ($request in @($BcdrfixInput.registry)) {
            $entry = [ordered]@{
                path = [string]$request.path; name = [string]$request.name
                key_exists = $false; exists = $false; kind = $null; data = $null
            }
            $key = Get-Item -LiteralPath ('Registry::' + $request.path) -ErrorAction SilentlyContinue
            if ($null -ne $key) {
                $entry.key_exists = $true
                if ($key.GetValueNames() -contains $request.name) {
                    $entry.exists = $true
                    $entry.kind = [string]$key.GetValueKind($request.name)
                    $value = $key.GetValue($request.name, $null, 'DoNotExpandEnvironmentNames')
                    if ($value -is [byte[]]) { $value = [System.Convert]::ToBase64String($value) }
                    $entry.data = $value
                }
                $key.Close()
            }
            $entry
        })
    [ordered]@{ items = $items }
}
