Invoke-BcdrfixSection 'crp_certificates' {
    $subject = [string]$BcdrfixInput.crp_subject
    if (-not $subject) { throw 'no CRP certificate subject given' }
    $simple = [System.Security.Cryptography.X509Certificates.X509NameType]::SimpleName
    # Issued to AND by the CRP generator (it signs its own certificates).
    $items = @(Get-ChildItem -LiteralPath 'Cert:\LocalMachine\My' | Where-Object {
            ($_.GetNameInfo($simple, $false) -eq $subject) -and ($_.GetNameInfo($simple, $true) -eq $subject)
        } | ForEach-Object {
            $certificate = $_
            $readable = $false
            # .PrivateKey throws for CNG keys on .NET Framework; GetRSAPrivateKey reads both kinds.
            try {
                $key = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($certificate)
                $readable = $null -ne $key
            }
            catch { }
            [ordered]@{
                thumbprint = [string]$certificate.Thumbprint
                subject = [string]$certificate.Subject
                issuer = [string]$certificate.Issuer
                not_after = $certificate.NotAfter.ToUniversalTime().ToString('o')
                has_private_key = [bool]$certificate.HasPrivateKey
                private_key_readable = [bool]$readable
            }
        })
    [ordered]@{ subject = $subject; items = $items }
}
