# A BuildKit-only recipe (cache mount) on top of the locally built Debian image: the classic builder
# the docker SDK speaks to would reject it.
ARG BASE
FROM ${BASE}
RUN --mount=type=cache,target=/root/.cache/ewh-test \
    echo "built with BuildKit" > /etc/ewh-buildkit && python3 -c "print('python runs')"
