Invoke-BcdrfixSection 'bitlocker' {
    if (-not (Get-Command -Name Get-BitLockerVolume -ErrorAction SilentlyContinue)) {
        return [ordered]@{ available = $false; volumes = @() }
    }
    $volumes = @(Get-BitLockerVolume | ForEach-Object {
            [ordered]@{
                mount_point = [string]$_.MountPoint
                lock_status = [string]$_.LockStatus
                protection_status = [string]$_.ProtectionStatus
                volume_status = [string]$_.VolumeStatus
            }
        })
    [ordered]@{ available = $true; volumes = $volumes }
}
