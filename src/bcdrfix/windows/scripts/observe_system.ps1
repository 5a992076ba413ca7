Invoke-BcdrfixSection 'system' {
    $identity = [System.Security.Principal.WindowsIdentity]::GetCurrent()
    $principal = New-Object System.Security.Principal.WindowsPrincipal($identity)
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    [ordered]@{
        computer_name = [string]$env:COMPUTERNAME
        user = [string]$identity.Name
        elevated = [bool]$principal.IsInRole([System.Security.Principal.WindowsBuiltInRole]::Administrator)
        os_caption = [string]$os.Caption
        os_version = [string]$os.Version
        ps_version = [string]$PSVersionTable.PSVersion
        program_data = [string]$env:ProgramData
    }
}
