#!/usr/bin/env bash
# Install the pinned real clients (OpenCode, Claude Code, Codex) into .ci/node for tests/clients; no-op when present.
set -euo pipefail
cd "$(dirname "$0")"
OPENCODE=1.18.33
CLAUDE=2.1.197
CODEX=0.171.0
PKGS=("opencode-ai@$OPENCODE" "@anthropic-ai/claude-code@$CLAUDE" "@openai/codex@$CODEX")

installed() {  # prints the installed version of package $1, or nothing
  local pj="node/node_modules/$1/package.json"
  [ -f "$pj" ] && node -p "require('./$pj').version" 2>/dev/null || true
}

if [ "$(installed opencode-ai)" = "$OPENCODE" ] && [ "$(installed @anthropic-ai/claude-code)" = "$CLAUDE" ] \
   && [ "$(installed @openai/codex)" = "$CODEX" ] \
   && [ -x node/node_modules/.bin/opencode ] && [ -x node/node_modules/.bin/claude ] && [ -x node/node_modules/.bin/codex ]; then
  exit 0
fi
mkdir -p node
npm install --prefix node --no-audit --no-fund --no-save --loglevel=error "${PKGS[@]}"
