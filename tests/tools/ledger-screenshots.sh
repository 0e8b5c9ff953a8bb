#!/bin/bash
# Regenerate docs/ledger-*.png: pages from headless Chromium, batch report PDF via pdftoppm.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
ARDOISE_SCREENSHOTS="$OUT" .venv/bin/pytest -q -p no:cacheprovider tests/ledger/test_browser.py
for lang in en fr; do
  for page in search certificate batch rack; do
    cp "$OUT/ledger-$page-$lang.png" "docs/ledger-$page-$lang.png"
  done
  pdftoppm -png -r 80 -f 1 -l 1 -singlefile "$OUT/ledger-report-$lang.pdf" "docs/ledger-report-$lang"
done
ls -l docs/ledger-*.png
