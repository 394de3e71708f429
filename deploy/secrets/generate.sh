#!/usr/bin/env sh
# Makes the compose secrets (deploy/secrets/oauth-keys.json, oauth-clients.json) and deploy/.env with the built
# image's own code, owned by the image's user (10001) so that the containers can read them. Needs Docker and the
# image (docker build -f deploy/Dockerfile -t trrg-gateway:0.1.0 .). Existing files are kept.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
image=${TRRG_IMAGE:-trrg-gateway:0.1.0}
docker run --rm --user 0:0 --read-only --network none \
  -v "$here:/out" -v "$here/..:/deploy" \
  --entrypoint node "$image" /out/generate.mjs --app /app/dist/src --out /out --env /deploy/.env --owner 10001:10001
