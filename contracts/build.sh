#!/bin/sh
# Rebuild the committed contract artifacts (needs `npm install` first).
set -eu
exec node "$(dirname "$0")/build.js"
