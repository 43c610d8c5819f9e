"""Where cells run: the seam (base), the one place a backend is chosen (choose), Docker and the host,
and what they need (images, host facts, the engine's log keeping).

Rule: only `backends/docker.py` imports the docker SDK, and only `backends/choose.py` imports it.
"""
