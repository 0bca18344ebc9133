#!/usr/bin/env bash
# `npm run image`: builds the Winnow image with buildah (no daemon, no RUN steps) from the staged
# production tree. BASE picks the base image (default: the Containerfile's, pulled from its
# registry); BASE=offline assembles one from this machine's Node.js (tools/image/base.sh).
# IMAGE names the result (default localhost/winnow:<version>). Prints the image, its size and
# where the SBOM is.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(node -p 'require("./package.json").version')
image=${IMAGE:-localhost/winnow:$version}
storage=(--storage-driver "${STORAGE_DRIVER:-vfs}")
bash tools/image/stage.sh >&2
args=(--pull)
if [ "${BASE:-}" = offline ]; then
  args=(--pull=never --build-arg "BASE=$(bash tools/image/base.sh)")
elif [ -n "${BASE:-}" ]; then
  args+=(--build-arg "BASE=$BASE")
fi
buildah "${storage[@]}" bud "${args[@]}" -f Containerfile -t "$image" build/image >&2
size=$(buildah "${storage[@]}" images --format '{{.Size}}' "$image" | sed -n 1p)
echo "image $image ($size); SBOM build/image/winnow.cdx.json"
