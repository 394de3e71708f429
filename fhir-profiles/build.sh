#!/usr/bin/env bash
# Compiles the FSH sources into fhir-profiles/fsh-generated/ with sushi, offline (docs/fhir.md).
#
# sushi finds FHIR packages in $HOME/.fhir/packages (fhir-package-loader's DiskBasedPackageCache), so it runs with
# HOME set to a scratch folder whose cache seed-package-cache.mjs fills: the user's own ~/.fhir is never read or
# written. Nothing is fetched either: sushi-config.yaml pins every dependency to a seeded package, and what sushi
# would still ask the network (its check for a newer release: `npm view`, then axios) fails at once instead of
# waiting on a registry that may not be there (npm offline; fhir-package-loader's and sushi's axios calls honour
# HTTPS_PROXY, here a closed loopback port).
#
# Usage: build.sh [output-dir]   (default: fhir-profiles, i.e. fhir-profiles/fsh-generated/)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
out="${1:-$here}"
scratch_home="$here/.cache/home"
packages="$scratch_home/.fhir/packages"

if [[ ! -f "$packages/hl7.fhir.r4.core#4.0.1/package/package.json" ]]; then
  node "$here/seed-package-cache.mjs" "$packages"
fi

# -s writes snapshots: @medplum/core's validator needs them. sushi's exit code is its error count; a log that
# says "error" is treated as a failure too, in case a later sushi counts differently.
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
HOME="$scratch_home" npm_config_offline=true npm_config_loglevel=silent HTTPS_PROXY=http://127.0.0.1:9 \
  "$repo/node_modules/.bin/sushi" build "$here" --out "$out" --snapshot --log-level warn >"$log" 2>&1 || status=$?
if [[ $status -ne 0 ]] || grep -q '^error ' "$log"; then
  cat "$log" >&2
  echo "sushi failed" >&2
  exit 1
fi
cat "$log"
