#!/usr/bin/env bash
# Stages the production tree for the image into build/image/context/app: the workspace manifests and
# lockfile, `npm ci --omit=dev` (production dependencies only), and the built dist/ of every service
# and library they load. Also writes the CycloneDX SBOM of what is staged to build/image/winnow.cdx.json.
# Run `npm run build` first.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/image
app=$out/context/app
rm -rf "$out/context"
mkdir -p "$app"
cp package.json package-lock.json "$app/"
for pkg in apps/*/package.json libs/*/package.json; do
  mkdir -p "$app/$(dirname "$pkg")"
  cp "$pkg" "$app/$pkg"
done
# Production dependencies only; install scripts off (lmdb and the rest ship prebuilt binaries).
(cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
# What runs: every service, the command line, and the libraries they load. The evaluation harness
# and test helpers are development tools and stay out.
for dir in apps/* libs/*; do
  case "$dir" in libs/evaluation|libs/testing) continue ;; esac
  [ -d "$dir/dist" ] || { echo "no $dir/dist: run npm run build first" >&2; exit 1; }
  mkdir -p "$app/$dir"
  cp -r "$dir/dist" "$app/$dir/dist"
  find "$app/$dir/dist" \( -name '*.d.ts' -o -name '*.d.ts.map' -o -name '*.tsbuildinfo' -o -name '*.js.map' \) -delete
done
# Type declarations and source maps are for development; nothing loads them at run time.
find "$app/node_modules" \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -type f -delete
(cd "$app" && npm sbom --package-lock-only --omit=dev --sbom-format=cyclonedx --sbom-type=application) > "$out/winnow.cdx.json"
echo "staged $(du -sh "$app" | cut -f1) in $app; SBOM $out/winnow.cdx.json ($(node -e "console.log(require('./$out/winnow.cdx.json').components.length)") components)"
