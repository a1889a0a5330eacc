#!/usr/bin/env bash
# Validates the committed OpenAPI documents with an independent validator,
# openapi-spec-validator (pinned), against the OpenAPI version each declares: poem-openapi
# writes them, and the test in tests/tests/openapi.rs only checks that they are current,
# not that they are valid.
# Usage: .ci/openapi-validate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
. "$root/.ci/venv.sh"
version=0.9.0
venv=${OPENAPI_VALIDATOR_VENV:-$root/target/openapi-validator-venv}
pinned_venv openapi-spec-validator "$version" "$venv"
"$venv/bin/openapi-spec-validator" "$root/openapi/lead-inbox.yaml" "$root/openapi/lead-inbox.json"
