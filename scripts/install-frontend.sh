#!/usr/bin/env bash
# The portal's front-end files (Bootstrap Italia and htmx, pinned in frontend/package-lock.json),
# installed from the npm registry into build/frontend/ and copied, only what the pages use,
# into src/autolettura/portal/static/vendor/. That folder is ignored by git: this script
# produces it (`make install` runs it), and the pages never load anything from a CDN.
#
# Idempotent: does nothing when the vendored files already match the lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

LOCK=frontend/package-lock.json
BUILD=build/frontend
VENDOR=src/autolettura/portal/static/vendor
STAMP="$VENDOR/.installed"

lock_digest=$(sha256sum "$LOCK" frontend/package.json | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$lock_digest" ]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "npm is missing: install Node.js and npm (as root: apt-get install -y nodejs npm)." >&2
    exit 1
  fi
  echo "Installing Node.js and npm to fetch the portal's front-end packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends nodejs npm
fi

echo "Installing the portal's front-end packages (Bootstrap Italia, htmx) into $BUILD"
mkdir -p "$BUILD"
cp frontend/package.json "$LOCK" "$BUILD/"
# --ignore-scripts: nothing from the registry runs here; only files are taken.
(cd "$BUILD" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)

italia="$BUILD/node_modules/bootstrap-italia/dist"
htmx="$BUILD/node_modules/htmx.org/dist"

rm -rf "$VENDOR"
mkdir -p "$VENDOR/bootstrap-italia/css" "$VENDOR/bootstrap-italia/js" \
  "$VENDOR/bootstrap-italia/svg" "$VENDOR/bootstrap-italia/fonts" "$VENDOR/htmx"
cp "$italia/css/bootstrap-italia.min.css" "$VENDOR/bootstrap-italia/css/"
cp "$italia/js/bootstrap-italia.bundle.min.js" "$VENDOR/bootstrap-italia/js/"
cp "$italia/svg/sprites.svg" "$VENDOR/bootstrap-italia/svg/"
# The fonts the portal's stylesheet declares (Titillium Web, Roboto Mono), in the two
# formats every current browser reads, with their licences.
for family in Titillium_Web Roboto_Mono; do
  mkdir -p "$VENDOR/bootstrap-italia/fonts/$family"
  cp "$italia/fonts/$family"/*.woff2 "$italia/fonts/$family"/*.woff "$VENDOR/bootstrap-italia/fonts/$family/"
  cp "$italia/fonts/$family"/*.txt "$VENDOR/bootstrap-italia/fonts/$family/"
done
cp "$BUILD/node_modules/bootstrap-italia/LICENSE" "$VENDOR/bootstrap-italia/" 2>/dev/null || true
cp "$htmx/htmx.min.js" "$VENDOR/htmx/"
cp "$BUILD/node_modules/htmx.org/LICENSE" "$VENDOR/htmx/" 2>/dev/null || true

echo "$lock_digest" >"$STAMP"
echo "Front-end files installed in $VENDOR"
