#!/usr/bin/env bash
# Builds a real kube-apiserver and etcd from the Go module proxy (shared/kube-apiserver.md), for the
# tests that run against a real Kubernetes API server. Binaries are cached by version under
# ${WINNOW_KUBE_CACHE:-$HOME/.cache/winnow-kube}/<version>/ and the build is skipped when they are
# there. Prints the directory holding kube-apiserver and etcd (and kubectl, built only when the
# machine has none on its PATH: put the directory on PATH).
set -euo pipefail
K8S=${K8S_VERSION:-v1.37.2}
ETCD=${ETCD_VERSION:-v3.7.0}
cache=${WINNOW_KUBE_CACHE:-$HOME/.cache/winnow-kube}/$K8S-etcd-$ETCD
need_kubectl=0
command -v kubectl >/dev/null 2>&1 || need_kubectl=1
if [ -x "$cache/kube-apiserver" ] && [ -x "$cache/etcd" ] && { [ $need_kubectl = 0 ] || [ -x "$cache/kubectl" ]; }; then echo "$cache"; exit 0; fi
mkdir -p "$cache"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
minor=$(echo "$K8S" | cut -d. -f2)
cd "$work"
go mod init winnow.local/kube-build >/dev/null 2>&1
# Kubernetes' own go.mod replaces k8s.io/<staging module> with ./staging/...; the same modules are
# published as k8s.io/<module> v0.<minor>.<patch>: require those instead.
kdir=$(go mod download -json "k8s.io/kubernetes@$K8S" | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).Dir))")
staging=$(grep -oE '^\s*k8s.io/[a-z0-9-]+ => ./staging/src/k8s.io/[a-z0-9-]+' "$kdir/go.mod" | awk '{print $1}')
pub="v0.${minor}.$(echo "$K8S" | cut -d. -f3)"
{
  echo "require k8s.io/kubernetes $K8S"
  for m in $staging; do echo "replace $m => $m $pub"; done
} >> go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S" "go.etcd.io/etcd/server/v3@$ETCD" >&2
ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
go build -trimpath -ldflags "$ld" -o "$cache/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2
go build -trimpath -ldflags "-s -w" -o "$cache/etcd" go.etcd.io/etcd/server/v3 >&2
if [ $need_kubectl = 1 ]; then go build -trimpath -ldflags "$ld" -o "$cache/kubectl" k8s.io/kubernetes/cmd/kubectl >&2; fi
echo "$cache"
