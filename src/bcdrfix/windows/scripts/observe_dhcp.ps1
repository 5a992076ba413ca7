Invoke-BcdrfixSection 'dhcp' {
    $adapters = @(Get-CimInstance -ClassName Win32_NetworkAdapterConfiguration -Filter 'IPEnabled = TRUE' | ForEach-Object {
            [ordered]@{
                index = [int]$_.InterfaceIndex
                description = [string]$_.Description
                dhcp_enabled = [bool]$_.DHCPEnabled
                addresses = @($_.IPAddress | ForEach-Object { [string]$_ })
            }
        })
    [ordered]@{ adapters = $adapters }
}
