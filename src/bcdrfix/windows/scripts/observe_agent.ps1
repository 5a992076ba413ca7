Invoke-BcdrfixSection 'agent' {
    $service = Get-CimInstance -ClassName Win32_Service -Filter "Name='WindowsAzureGuestAgent'"
    $image = $null
    $exe = $null
    if ($null -ne $service) {
        $image = [string]$service.PathName
        if ($image -match '^\s*"([^"]+)"') { $exe = $Matches[1] }
        elseif ($image -match '^\s*(.+?\.exe)') { $exe = $Matches[1] }
    }
    $file_version = $null
    $product_version = $null
    if ($exe -and (Test-Path -LiteralPath $exe)) {
        $info = (Get-Item -LiteralPath $exe).VersionInfo
        $file_version = [string]$info.FileVersion
        $product_version = [string]$info.ProductVersion
    }
    $legacy = Join-Path $env:SystemDrive 'WindowsAzure\Packages\WaAppAgent.exe'
    $legacy_version = $null
    if (Test-Path -LiteralPath $legacy) { $legacy_version = [string](Get-Item -LiteralPath $legacy).VersionInfo.FileVersion }
    $folders = @(Get-ChildItem -LiteralPath (Join-Path $env:SystemDrive 'WindowsAzure') -Directory -Filter 'GuestAgent_*' -ErrorAction SilentlyContinue | ForEach-Object { [string]$_.Name })
    [ordered]@{
        image_path = $image; exe = $exe; file_version = $file_version; product_version = $product_version
        waappagent_path = $legacy; waappagent_version = $legacy_version; folders = $folders
    }
}
