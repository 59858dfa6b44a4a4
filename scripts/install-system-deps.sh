#!/usr/bin/env bash
# The system libraries WeasyPrint needs to render bills (Pango, and fonts: DejaVu), from
# Debian's packages. Idempotent: does nothing when they are there. Installing needs root;
# run as another user, it only says what is missing and fails.
set -euo pipefail

PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)

# Listings are read whole before grep: with pipefail, `grep -q` closing a pipe early would
# fail the check when the library is there.
libraries=$(ldconfig -p)
missing=()
grep -q 'libpango-1\.0' <<<"$libraries" || missing+=("Pango (libpango-1.0-0 libpangoft2-1.0-0)")
# Without it WeasyPrint falls back to slower font subsetting, and says it will require it.
grep -q 'libharfbuzz-subset' <<<"$libraries" || missing+=("HarfBuzz subset (libharfbuzz-subset0)")
if command -v fc-list >/dev/null 2>&1; then
  fonts=$(fc-list)
  grep -qi 'DejaVu Sans' <<<"$fonts" || missing+=("the DejaVu fonts (fonts-dejavu-core)")
elif [ ! -d /usr/share/fonts/truetype/dejavu ]; then
  missing+=("the DejaVu fonts (fonts-dejavu-core)")
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "Missing for the PDF bills (WeasyPrint): ${missing[*]}." >&2
  echo "Install them as root: apt-get install -y --no-install-recommends ${PACKAGES[*]}" >&2
  exit 1
fi

echo "Installing the system libraries for the PDF bills: ${PACKAGES[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${PACKAGES[@]}"
