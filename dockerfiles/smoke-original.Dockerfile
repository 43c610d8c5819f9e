# Original, the validation plan's "current approach", for the smoke image (Debian bookworm amd64, made
# by the harness from Debian's packages): one stage, everything in it. The application is copied in
# first and the chain installed after it, as such recipes often are, so any change to the application
# reinstalls the whole chain; pip's download cache stays in the image.
#
#   [images.smoke-original]
#   dockerfile = "../dockerfiles/smoke-original.Dockerfile"
#   platform = "linux/amd64"
#   ships_torch = true                                        # the chain is in the image: cells install nothing
#   build_args = { BASE = "edge-wheel-harness/debian-bookworm:amd64" }
#   build_folders = { wheelhouse = "../.wheelhouse/smoke" }   # torch's CPU wheel, as the cells get it
#   source_file = "chain-smoke/chain_smoke/__init__.py"       # the change a cached build is measured after
#
# What the build reaches, with no path of the building machine written here: the wheelhouse as the
# folder `wheelhouse` of the build context (bind-mounted for the install only; the harness puts an
# image's build_folders there, by hand copy the wheels into dockerfiles/wheelhouse/), and the host's CA
# bundle as the BuildKit secret `ca-bundle` (`--secret id=ca-bundle,src=…`), mounted over the image's
# own bundle for the install only, for an index behind a corporate CA. Neither ends up in the image.
ARG BASE=edge-wheel-harness/debian-bookworm:amd64
FROM ${BASE}

COPY chain-smoke/ /app/
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    --mount=type=secret,id=ca-bundle,target=/etc/ssl/certs/ca-certificates.crt \
    python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --find-links /wheelhouse -r /app/requirements.txt

ENV PATH=/opt/venv/bin:$PATH
