"""Fix what an Azure Backup / Site Recovery error code points at, on every host of the inventory.

The controls come from the error-code catalog (`bcdrfix explain CODE` shows them):

    pyinfra inventories/lab.py deploys/fix_error_code.py --data error_code=151099
    pyinfra inventories/lab.py deploys/fix_error_code.py --data error_code=151099 --dry
    pyinfra inventories/lab.py deploys/fix_error_code.py --data error_code=UserErrorFsFreezeFailed \
        --data bcdrfix_allow_disruptive=true

`bcdrfix fix INVENTORY --code CODE` runs the same, validating the code and every host's settings
before any host is contacted, and summarises per host what changed.
"""

from bcdrfix.fix.by_code import fix_error_code

fix_error_code()
