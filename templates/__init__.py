"""The templates bcdrfix renders (jinja2), shipped inside the package as ``bcdrfix.templates``.

This folder is the one home of the templates; setup.py maps it to ``bcdrfix.templates`` so that
wheels and editable installs load them with ``jinja2.PackageLoader`` wherever bcdrfix is installed.
"""
