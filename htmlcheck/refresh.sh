#!/bin/sh
# Refreshes caniemail.json from the npm package caniemail (the data of caniemail.com) and
# records the version in LICENSE.caniemail. Run from this directory: go generate ./htmlcheck
set -eu
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
(cd "$dir" && npm pack --silent caniemail >/dev/null && tar xzf caniemail-*.tgz)
version=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$dir/package/package.json" | head -1)
cp "$dir/package/data/caniemail.json" caniemail.json
{
	echo "The file caniemail.json in this directory is the data of the npm package caniemail (version $version),"
	echo "which packages the feature support data of caniemail.com (https://www.caniemail.com,"
	echo "https://github.com/hteumeuleu/caniemail). It is used here under the package's licence, below."
	echo "Refresh it with: go generate ./htmlcheck (runs refresh.sh, which needs npm)."
	echo
	cat "$dir/package/LICENSE"
} > LICENSE.caniemail
echo "caniemail.json: caniemail $version, $(wc -c < caniemail.json) bytes"
