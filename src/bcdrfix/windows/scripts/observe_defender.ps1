Invoke-BcdrfixSection 'defender' {
    if (-not (Get-Command -Name Get-MpPreference -ErrorAction SilentlyContinue)) {
        return [ordered]@{ available = $false; exclusion_paths = @() }
    }
    $preference = Get-MpPreference
    $running = $null
    try { $running = [bool](Get-MpComputerStatus).AMServiceEnabled } catch { }
    [ordered]@{
        available = $true
        service_enabled = $running
        exclusion_paths = @($preference.ExclusionPath | Where-Object { $_ } | ForEach-Object { [string]$_ })
    }
}
