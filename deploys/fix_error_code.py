"""Fix what an Azure Backup / Site Recovery error code points at, on every host of the inventory.

The controls come from the error-code catalog (`bcdrfix explain CODE` shows them):

    pyinfra inventories/lab.py deploys/fix_error_code.py --data error_code=151099
    pyinfra inventories/lab.py deploys/fix_error_code.py --data error_code=151099 --dry
    pyinfra inventories/lab.py deploys/fix_error_code.py --data error_code=UserErrorFsFreezeFailed \
        --data bcdrfix_allow_disruptive=true

`bcdrfix fix INVENTORY --code CODE` runs the same, validating the code and every host's settings
before any host is contacted, and summarises per host what changed.

The same deploy from any folder: pyinfra INVENTORY bcdrfix.deploys.fix_error_code
"""

from bcdrfix.deploys import fix_error_code

fix_error_code()
