"""Code that runs inside cells: the driver (venv, install, probe) and the import probe.

Rule: the standard library only, Python 3.8+; these files are copied into containers and run there.
`FILES` maps the name each file has inside a cell to where it is here.
"""

import os

_HERE = os.path.dirname(os.path.abspath(__file__))
FILES = {"cell.py": os.path.join(_HERE, "driver.py"), "probe.py": os.path.join(_HERE, "probe.py")}
