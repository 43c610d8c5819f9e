"""Runner hygiene on a long-lived engine, for real: leftover containers by label and age, cache volumes
over a size limit (oldest first, never one in use), and images the harness built that no matrix names."""

from __future__ import annotations

import secrets
import time

import pytest
from harness_cli import cli

from harness.backends.base import LABEL_CELL, LABEL_RUN
from harness.backends.docker import LABEL_CACHE

pytestmark = pytest.mark.docker


def test_only_containers_older_than_the_age_are_removed(docker_backend, bookworm):
    run = f"test-hygiene-{secrets.token_hex(3)}"
    labels = {LABEL_RUN: run, LABEL_CELL: "old"}
    old = docker_backend.client.containers.create(bookworm, ["sleep", "600"], labels=labels)
    try:
        time.sleep(3)
        young = docker_backend.client.containers.create(bookworm, ["sleep", "600"],
                                                        labels={**labels, LABEL_CELL: "young"})
        try:
            done = cli("clean", "--run-id", run, "--older-than", "2")
            assert done.returncode == 0, done.stderr
            assert f"removed {old.short_id} old" in done.stdout and "young" not in done.stdout
            left = docker_backend.client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run}"},
                                                                 ignore_removed=True)
            assert [c.id for c in left] == [young.id]
        finally:
            young.remove(force=True)
    finally:
        try:
            old.remove(force=True)
        except Exception:  # noqa: BLE001 - already removed by the clean under test
            pass


def test_cache_volumes_over_the_limit_go_oldest_first_and_one_in_use_stays(docker_backend, bookworm):
    client = docker_backend.client
    tag = secrets.token_hex(3)
    names = [f"edge-wheel-harness-cache-test-{tag}-{i}" for i in range(3)]
    volumes = []
    busy = None
    try:
        for i, name in enumerate(names):  # created in order: 0 is the oldest; 2 MB each
            volumes.append(client.volumes.create(name=name, labels={LABEL_CACHE: f"test-{tag}-{i}"}))
            client.containers.run(bookworm, ["sh", "-c", "head -c 2000000 /dev/urandom > /c/blob"], remove=True,
                                  volumes={name: {"bind": "/c", "mode": "rw"}})
            time.sleep(1.1)
        busy = client.containers.run(bookworm, ["sleep", "600"], detach=True,
                                     volumes={names[1]: {"bind": "/c", "mode": "ro"}})
        # room for one of the three (the caches a person's runs use are not this test's to trim)
        mine = docker_backend.trim_caches(2_500_000, names=tuple(f"test-{tag}-{i}" for i in range(3)))
        assert mine[0].startswith(f"removed {names[0]} (") and mine[1].startswith(f"kept {names[1]} (")
        assert mine[2].startswith(f"removed {names[2]} (")
        left = {v.name for v in client.volumes.list(filters={"label": LABEL_CACHE})}
        assert names[1] in left and names[0] not in left and names[2] not in left
    finally:
        if busy is not None:
            busy.remove(force=True)
        for name in names:
            try:
                client.volumes.get(name).remove(force=True)
            except Exception:  # noqa: BLE001 - removed by the trim under test
                pass


def test_images_no_matrix_names_are_removed_and_named_ones_stay(docker_backend, bookworm, tmp_path):
    client = docker_backend.client
    stray = f"edge-wheel-harness/test-stray-{secrets.token_hex(3)}:latest"
    client.images.get(bookworm).tag(stray)
    try:
        done = cli("clean", "--images", "matrices/smoke.toml")
        assert done.returncode == 0, done.stderr
        assert f"removed image {stray}" in done.stdout
        assert docker_backend.has_image(bookworm)  # the smoke matrix names it
        assert not docker_backend.has_image(stray)
    finally:
        if docker_backend.has_image(stray):
            client.images.remove(stray)
