"""Run an in-cell script from code compiled once: `python boot.py SCRIPT CACHE ARGS...` runs SCRIPT as
`python SCRIPT ARGS...` runs it (as __main__, its folder first on sys.path, sys.argv[0] and __file__ its
path), from its code object kept in the shared cache CACHE ("" when the cell has none: compiled here).

A script run directly is compiled on every start, and the cells' files are fresh in every container:
under emulation the driver's compile alone takes a seventh of a second a cell, the probe's another
tenth. The code is kept per content (sha256) and interpreter (cache tag, version, optimisation level),
under CACHE/tools/ewh-code/, written atomically; a file that cannot be read or written is compiled here.

Standard library only, Python 3.8+.
"""

import marshal as _marshal
import os as _os
import sys as _sys


def _compiled(script, cache):
    """SCRIPT's code object: the one kept in `cache` for its content and this interpreter, else compiled
    (and kept)."""
    with open(script, "rb") as f:
        source = f.read()
    kept = None
    if cache:
        import hashlib

        name = "%s-%s.%s-%x-O%d.code" % (_os.path.basename(script), hashlib.sha256(source).hexdigest()[:24],
                                         _sys.implementation.cache_tag, _sys.hexversion, _sys.flags.optimize)
        kept = _os.path.join(cache, "tools", "ewh-code", name)
        try:
            with open(kept, "rb") as f:
                return _marshal.load(f)
        except (OSError, EOFError, ValueError, TypeError):
            pass
    code = compile(source, script, "exec", dont_inherit=True)
    if kept:
        partial = "%s.%d.partial" % (kept, _os.getpid())
        try:
            _os.makedirs(_os.path.dirname(kept), exist_ok=True)
            with open(partial, "wb") as f:
                _marshal.dump(code, f)
            _os.replace(partial, kept)  # atomic: a cell reading it at the same time sees all of it or none
        except OSError:
            try:
                _os.remove(partial)
            except OSError:
                pass
    return code


if __name__ == "__main__":
    if len(_sys.argv) < 3:
        _sys.stderr.write("usage: boot.py SCRIPT CACHE [ARGS...]\n")
        _sys.exit(2)
    _script = _os.path.abspath(_sys.argv[1])
    _code = _compiled(_script, _sys.argv[2])
    _sys.argv[:3] = [_script]
    _sys.path[0] = _os.path.dirname(_os.path.realpath(_script))  # as a script's run puts its folder
    __file__, __doc__ = _script, None  # the script's own docstring, if it has one, is set by its code
    del _compiled, _marshal, _os, _sys, _script
    exec(globals().pop("_code"))  # in __main__'s namespace, holding nothing of this file's
