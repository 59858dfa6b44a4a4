#!/usr/bin/env bash
# The portal's front-end files (Bootstrap Italia and htmx, pinned in frontend/package-lock.json),
# installed from the npm registry into build/frontend/ and copied, only what the pages use,
# into src/autolettura/portal/static/vendor/. That folder is ignored by git: this script
# produces it (`make install`, `make run` and the test targets run it), and the pages never
# load anything from a CDN.
#
# Bootstrap Italia's stylesheet is cut to the rules the pages can use (PurgeCSS, pinned in the
# same lock file, with frontend/purgecss.config.cjs): 612 KB down to about 60 KB. The cut reads
# the templates, the Python sources and the project's scripts, so it is made again whenever
# one of them changes: a class used for the first time in a template gets its rule.
#
# Idempotent: does nothing when the packages match the lock file and the vendored files
# match the packages and the sources the cut reads.
set -euo pipefail
cd "$(dirname "$0")/.."

LOCK=frontend/package-lock.json
BUILD=build/frontend
VENDOR=src/autolettura/portal/static/vendor
STAMP="$VENDOR/.installed"

PURGE_CONFIG=frontend/purgecss.config.cjs

lock_digest=$(sha256sum "$LOCK" frontend/package.json | sha256sum | cut -d' ' -f1)
# What the cut reads (the globs of $PURGE_CONFIG): templates, Python sources, own scripts.
sources_digest=$(
  {
    sha256sum "$PURGE_CONFIG"
    find src/autolettura \( -path '*/templates/*.html' -o -name '*.py' \
      -o -path 'src/autolettura/*/static/*/*.js' \) -not -path '*/vendor/*' -print0 |
      sort -z | xargs -0 sha256sum
  } | sha256sum | cut -d' ' -f1
)
vendor_digest="$lock_digest $sources_digest"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$vendor_digest" ]; then
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

if [ ! -f "$BUILD/.installed" ] || [ "$(cat "$BUILD/.installed")" != "$lock_digest" ]; then
  echo "Installing the portal's front-end packages (Bootstrap Italia, htmx, PurgeCSS) into $BUILD"
  mkdir -p "$BUILD"
  cp frontend/package.json "$LOCK" "$BUILD/"
  # --ignore-scripts: no package's install script runs; only files are taken.
  (cd "$BUILD" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  echo "$lock_digest" >"$BUILD/.installed"
fi

italia="$BUILD/node_modules/bootstrap-italia/dist"
htmx="$BUILD/node_modules/htmx.org/dist"

rm -rf "$VENDOR"
mkdir -p "$VENDOR/bootstrap-italia/css" "$VENDOR/bootstrap-italia/js" \
  "$VENDOR/bootstrap-italia/svg" "$VENDOR/bootstrap-italia/fonts" "$VENDOR/htmx"
# The rules the pages can use, from the whole stylesheet (the cut's input is named in its
# config); the result keeps the stylesheet's name, so the templates do not change.
node "$BUILD/node_modules/purgecss/bin/purgecss.js" --config "$PURGE_CONFIG" \
  --output "$VENDOR/bootstrap-italia/css/"
test -s "$VENDOR/bootstrap-italia/css/bootstrap-italia.min.css"
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

echo "$vendor_digest" >"$STAMP"
echo "Front-end files installed in $VENDOR"
