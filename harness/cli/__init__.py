"""The command line: parse, call one function of the layer below, print, exit.

Rule: nothing in the package imports `cli/`; the commands here turn results and HarnessError into
output and an exit code, and hold no knowledge a lower layer needs.
"""
