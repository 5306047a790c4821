#!/usr/bin/env bash
# Extract the console's strings (templates and hotline/console) and merge them into the
# catalogs under web/locale; then translate the new entries in web/locale/zh/LC_MESSAGES/messages.po.
# tests/unit/console/test_catalogs.py fails while any string lacks its Chinese.
set -euo pipefail
cd "$(dirname "$0")/.."
BABEL=.venv/bin/pybabel
"$BABEL" extract -F babel.cfg -k N_ -k text:2 --no-location --sort-output --omit-header \
    -o web/locale/messages.pot .
for lang in zh; do
    po=web/locale/$lang/LC_MESSAGES/messages.po
    if [ -f "$po" ]; then
        "$BABEL" update -i web/locale/messages.pot -d web/locale -l "$lang" --no-fuzzy-matching --ignore-obsolete
    else
        "$BABEL" init -i web/locale/messages.pot -d web/locale -l "$lang"
    fi
done
