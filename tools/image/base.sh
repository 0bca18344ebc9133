#!/usr/bin/env bash
# Assembles, offline, a base image shaped like Google's distroless Node.js 20 image (Node.js at
# /nodejs/bin/node, no shell, no package manager, a non-root user): this machine's `node` binary and
# the shared libraries it links, CA certificates, /etc/passwd and /etc/group, an empty /tmp. Used
# where no registry can be reached (CI here); elsewhere the Containerfile's default BASE is pulled.
# Prints the image name: localhost/winnow-base:node<major>.
set -euo pipefail
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
node_bin=$(command -v node)
major=$(node -p 'process.versions.node.split(".")[0]')
mkdir -p "$root/nodejs/bin" "$root/etc/ssl/certs" "$root/tmp" "$root/var/spool/winnow" "$root/var/lib/winnow"
cp "$(readlink -f "$node_bin")" "$root/nodejs/bin/node"
# The dynamic loader and every library node links against, at the paths it asks for.
for lib in $(ldd "$node_bin" | grep -oE '(/[^ ]+)'); do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
[ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\nwinnow:x:10001:10001:winnow:/nonexistent:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\nwinnow:x:10001:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"
chown 10001:10001 "$root/var/spool/winnow" "$root/var/lib/winnow"
name=localhost/winnow-base:node$major
storage=(--storage-driver "${STORAGE_DRIVER:-vfs}")
ctr=$(buildah "${storage[@]}" from scratch)
buildah "${storage[@]}" copy "$ctr" "$root" / >/dev/null
buildah "${storage[@]}" config --env PATH=/nodejs/bin:/usr/local/bin:/usr/bin:/bin --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --user 65532:65532 --entrypoint '["/nodejs/bin/node"]' "$ctr"
buildah "${storage[@]}" commit --rm "$ctr" "$name" >/dev/null
echo "$name"
