Invoke-BcdrfixSection 'vss_writers' {
    # vssadmin writes its errors to stdout or stderr depending on the version: both are kept as
    # text, its exit code is data (a failing vssadmin must not fail the observation), and it
    # runs with a time limit.
    $vssadmin = Join-Path $env:SystemRoot 'System32\vssadmin.exe'
    Invoke-BcdrfixNative $vssadmin 'list writers' ([int]$BcdrfixInput.vssadmin_timeout)
}
