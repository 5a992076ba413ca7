Invoke-BcdrfixSection 'services' {
    $wanted = @($BcdrfixInput.services)
    $items = @(Get-CimInstance -ClassName Win32_Service | Where-Object {
            ($wanted -contains $_.Name) -or ($_.Name -eq 'MSSQLSERVER') -or ($_.Name -like 'MSSQL$*')
        } | ForEach-Object {
            [ordered]@{
                name = [string]$_.Name
                display_name = [string]$_.DisplayName
                state = [string]$_.State
                start_mode = [string]$_.StartMode
                delayed_auto_start = [bool]$_.DelayedAutoStart
                account = [string]$_.StartName
                path = [string]$_.PathName
                process_id = [int]$_.ProcessId
            }
        })
    # The account the running process really uses (it changes only when the service restarts).
    foreach ($item in $items) {
        if (@($BcdrfixInput.process_accounts) -notcontains $item.name -or $item.process_id -eq 0) { continue }
        $process = Get-CimInstance -ClassName Win32_Process -Filter ('ProcessId = ' + $item.process_id)
        if ($null -eq $process) { continue }
        $owner = Invoke-CimMethod -InputObject $process -MethodName GetOwner
        if ($owner.ReturnValue -eq 0) { $item['process_account'] = '{0}\{1}' -f $owner.Domain, $owner.User }
    }
    [ordered]@{ items = $items }
}
