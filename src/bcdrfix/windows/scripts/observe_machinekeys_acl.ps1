Invoke-BcdrfixSection 'machinekeys_acl' {
    $path = Join-Path $env:ProgramData 'Microsoft\Crypto\RSA\MachineKeys'
    $acl = Get-Acl -LiteralPath $path
    $rules = @($acl.GetAccessRules($true, $true, [System.Security.Principal.SecurityIdentifier]) | ForEach-Object {
            $rule = $_
            $account = [string]$rule.IdentityReference.Value
            try { $account = [string]$rule.IdentityReference.Translate([System.Security.Principal.NTAccount]).Value } catch { }
            [ordered]@{
                sid = [string]$rule.IdentityReference.Value
                account = $account
                type = [string]$rule.AccessControlType
                rights = [int64][int]$rule.FileSystemRights
                rights_text = [string]$rule.FileSystemRights
                inherited = [bool]$rule.IsInherited
                inheritance = [string]$rule.InheritanceFlags
                propagation = [string]$rule.PropagationFlags
            }
        })
    [ordered]@{ path = $path; owner = [string]$acl.Owner; protected = [bool]$acl.AreAccessRulesProtected; sddl = [string]$acl.Sddl; rules = $rules }
}
