#!/usr/bin/env bash
# Load test of the actix-web example (examples/actix.rs) with and without its `Count`
# middleware: `.ci/load.sh` for that example (same method, same environment variables).
exec env LOAD_EXAMPLE=actix bash "$(dirname "$0")/load.sh" "$@"
