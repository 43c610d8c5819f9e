# A recipe with the shape of the plan's build strategies, small: a dependency step that reads the
# context's `wheelhouse` folder, then the application copied in after it (its source_file is app/main.py).
ARG BASE
FROM ${BASE}
RUN --mount=type=bind,source=wheelhouse,target=/wheelhouse \
    ls /wheelhouse > /etc/ewh-wheelhouse
COPY app/ /app/
