#!/bin/sh
# Fetches the vendored map libraries from the npm registry at pinned versions (run from this folder):
# only the built files the pages load and each package's licence are kept.
set -eu
LEAFLET=1.9.4
MARKERCLUSTER=1.5.3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "leaflet@$LEAFLET" "leaflet.markercluster@$MARKERCLUSTER" >/dev/null)
rm -rf leaflet leaflet.markercluster
mkdir -p leaflet leaflet.markercluster
tar -xzf "$tmp/leaflet-$LEAFLET.tgz" -C "$tmp" && mv "$tmp/package" "$tmp/leaflet-pkg"
tar -xzf "$tmp/leaflet.markercluster-$MARKERCLUSTER.tgz" -C "$tmp" && mv "$tmp/package" "$tmp/cluster-pkg"
cp "$tmp/leaflet-pkg/dist/leaflet.js" "$tmp/leaflet-pkg/dist/leaflet.css" "$tmp/leaflet-pkg/LICENSE" leaflet/
cp -r "$tmp/leaflet-pkg/dist/images" leaflet/
cp "$tmp/cluster-pkg/dist/leaflet.markercluster.js" "$tmp/cluster-pkg/dist/MarkerCluster.css" \
   "$tmp/cluster-pkg/dist/MarkerCluster.Default.css" "$tmp/cluster-pkg/MIT-LICENCE.txt" leaflet.markercluster/
echo "leaflet $LEAFLET, leaflet.markercluster $MARKERCLUSTER" > VERSIONS
