#!/usr/bin/env bash
# Install the Debian packages of .ci/packages that are missing, then check that each provides what it
# must. A package counts as present when everything it provides is there already (a docker from
# another source is fine). Used by .ci/run, and by tests/test_setup.py in a fresh Debian container.
#
#   bash .ci/packages.sh            install what is missing, then check
#   bash .ci/packages.sh --check    only check
set -euo pipefail
LIST="$(dirname "${BASH_SOURCE[0]}")/packages"
SUDO=()
if [ "$(id -u)" != 0 ]; then
    SUDO=(sudo)
fi

provides() {  # provides TOOL: is it there?
    if [ "$1" = "@foreign-rootfs" ]; then
        # mmdebstrap names what it lacks for a foreign architecture ("E: install arch-test for foreign
        # architecture support"); other failures of a simulated run (a container without binfmt_misc
        # mounted cannot copy QEMU in) say nothing about the packages.
        local foreign=arm64 said
        [ "$(uname -m)" = aarch64 ] && foreign=amd64
        command -v mmdebstrap >/dev/null 2>&1 || return 1
        said=$(mmdebstrap --simulate --variant=apt --arch="$foreign" bookworm /dev/null 2>&1 || true)
        if grep -q '^E: install ' <<<"$said"; then
            grep '^E: install ' <<<"$said" >&2
            return 1
        fi
        return 0
    fi
    if [ "$1" = "@venv" ]; then
        local tmp
        tmp=$(mktemp -d)
        python3 -m venv "$tmp/v" >/dev/null 2>&1
        local rc=$?
        rm -rf "$tmp"
        return $rc
    fi
    command -v "$1" >/dev/null 2>&1
}

entries() { grep -v '^[[:space:]]*\(#\|$\)' "$LIST"; }

missing=()
while read -r pkg tools; do
    for tool in $tools; do
        if ! provides "$tool"; then
            missing+=("$pkg")
            break
        fi
    done
done < <(entries)

if [ "${1:-}" != "--check" ]; then
    if [ ${#missing[@]} -gt 0 ]; then
        echo "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        "${SUDO[@]}" apt-get update -q
        "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        echo "nothing to install"
    fi
fi

gaps=()
while read -r pkg tools; do
    for tool in $tools; do
        provides "$tool" || gaps+=("$pkg: $tool")
    done
done < <(entries)
if [ ${#gaps[@]} -gt 0 ]; then
    printf 'MISSING after the package step: %s\n' "${gaps[@]}" >&2
    exit 1
fi
echo "every package provides what the set-up needs: $(entries | awk '{print $1}' | paste -sd' ')"
