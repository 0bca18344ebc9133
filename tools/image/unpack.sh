#!/usr/bin/env bash
# Unpacks a built image the way a container runtime would see it, without running one: copied to an
# OCI layout with skopeo, unpacked with umoci into build/image/bundle (its rootfs/ is the root file
# system). Prints the rootfs path. IMAGE as for build.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(node -p 'require("./package.json").version')
image=${IMAGE:-localhost/winnow:$version}
driver=${STORAGE_DRIVER:-vfs}
rm -rf build/image/oci build/image/bundle
skopeo copy --quiet "containers-storage:[$driver@/var/lib/containers/storage]$image" oci:build/image/oci:winnow >&2
umoci unpack --image build/image/oci:winnow build/image/bundle >&2
echo "$PWD/build/image/bundle/rootfs"
