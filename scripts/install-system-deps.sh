#!/usr/bin/env bash
# The system libraries WeasyPrint needs to render bills (Pango, and fonts: DejaVu), and the
# browser the portal's end-to-end tests drive (Debian's chromium, through Playwright), and
# the IMAP server the e-mail channel's tests start on loopback (Dovecot), and the HTTP load
# generator of benchmarks/api_load.py (wrk), and the backup tools the restore drill runs
# (pgBackRest, restic), and xmlsec1, which signs and checks the SPID and CIE sign-in's SAML
# messages, from Debian's packages. Idempotent: does
# nothing when they are there. Installing needs root; run as another user, it only says
# what is missing and fails.
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

# The end-to-end tests launch /usr/bin/chromium: Playwright's own browser download is never used.
browser_missing=false
command -v chromium >/dev/null 2>&1 || browser_missing=true

# The e-mail tests run /usr/sbin/dovecot with a configuration of their own, on 127.0.0.1.
imap_missing=false
[ -x /usr/sbin/dovecot ] && [ -e /usr/lib/dovecot/imap ] || imap_missing=true

# benchmarks/api_load.py loads the server with /usr/bin/wrk.
wrk_missing=false
command -v wrk >/dev/null 2>&1 || wrk_missing=true

# tests/ops/test_restore_drill.py backs up and restores with /usr/bin/pgbackrest and
# /usr/bin/restic, as production does (docs/deploy.md, section 13).
# SPID and CIE sign-in (pysaml2) sign and verify with /usr/bin/xmlsec1.
xmlsec_missing=false
command -v xmlsec1 >/dev/null 2>&1 || xmlsec_missing=true

backup_missing=()
command -v pgbackrest >/dev/null 2>&1 || backup_missing+=(pgbackrest)
command -v restic >/dev/null 2>&1 || backup_missing+=(restic)

if [ ${#missing[@]} -eq 0 ] && [ "$browser_missing" = false ] && [ "$imap_missing" = false ] \
  && [ "$wrk_missing" = false ] && [ ${#backup_missing[@]} -eq 0 ] \
  && [ "$xmlsec_missing" = false ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Missing for the PDF bills (WeasyPrint): ${missing[*]}." >&2
    echo "Install them as root: apt-get install -y --no-install-recommends ${PACKAGES[*]}" >&2
  fi
  if [ "$browser_missing" = true ]; then
    echo "Missing for the portal's end-to-end tests: Chromium." >&2
    echo "Install it as root: apt-get install -y chromium" >&2
  fi
  if [ "$imap_missing" = true ]; then
    echo "Missing for the e-mail channel's tests: Dovecot (IMAP)." >&2
    echo "Install it as root: apt-get install -y --no-install-recommends dovecot-imapd" >&2
  fi
  if [ "$wrk_missing" = true ]; then
    echo "Missing for the API load benchmark: wrk." >&2
    echo "Install it as root: apt-get install -y --no-install-recommends wrk" >&2
  fi
  if [ "$xmlsec_missing" = true ]; then
    echo "Missing for SPID and CIE sign-in: xmlsec1." >&2
    echo "Install it as root: apt-get install -y --no-install-recommends xmlsec1" >&2
  fi
  if [ ${#backup_missing[@]} -gt 0 ]; then
    echo "Missing for the backups and the restore drill: ${backup_missing[*]}." >&2
    echo "Install them as root: apt-get install -y --no-install-recommends ${backup_missing[*]}" >&2
  fi
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing the system libraries for the PDF bills: ${PACKAGES[*]}"
  apt-get install -y --no-install-recommends "${PACKAGES[@]}"
fi
if [ "$browser_missing" = true ]; then
  echo "Installing Chromium for the portal's end-to-end tests"
  apt-get install -y chromium
fi
if [ "$wrk_missing" = true ]; then
  echo "Installing wrk for the API load benchmark"
  apt-get install -y --no-install-recommends wrk
fi
if [ "$xmlsec_missing" = true ]; then
  echo "Installing xmlsec1 for SPID and CIE sign-in"
  apt-get install -y --no-install-recommends xmlsec1
fi
if [ ${#backup_missing[@]} -gt 0 ]; then
  echo "Installing the backup tools: ${backup_missing[*]}"
  apt-get install -y --no-install-recommends "${backup_missing[@]}"
fi
if [ "$imap_missing" = true ]; then
  echo "Installing Dovecot for the e-mail channel's tests (its system service stays off)"
  # Only the tests' own Dovecot should run: keep the package from starting the system
  # service, which would listen on the machine's IMAP ports.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get install -y --no-install-recommends dovecot-imapd
  if [ -d /run/systemd/system ]; then
    systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
  fi
fi
