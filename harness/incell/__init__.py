"""Code that runs inside cells: the driver (venv, install, probe, checks), the import probe, the checks, and
the boot that runs the driver and the probe from code compiled once (kept in the shared cache).

Rule: the standard library only, Python 3.8+; these files are copied into containers and run there. (The
built-in checks also import the packages they exercise, which the cell installed, when they run.)
`FILES` maps the name each file has inside a cell to where it is here.
"""

import os

_HERE = os.path.dirname(os.path.abspath(__file__))
FILES = {"cell.py": os.path.join(_HERE, "driver.py"), "probe.py": os.path.join(_HERE, "probe.py"),
         "checks.py": os.path.join(_HERE, "checks.py"), "boot.py": os.path.join(_HERE, "boot.py")}
