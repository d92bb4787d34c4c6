#!/bin/sh
# Starts toolhostd in the foreground with a default config in build/run/ (RUN_DIR overrides it): the
# Unix socket is build/run/toolhostd.sock. The upstream is the Hugging Face router when HF_TOKEN is
# set, otherwise a local OpenAI-compatible server (Ollama's default port; override with UPSTREAM_URL).
set -eu
cd "$(dirname "$0")/.."
bin=${1:-build/release/toolhostd}
dir=${RUN_DIR:-build/run}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if [ -n "${HF_TOKEN:-}" ]; then
	upstream='{"name": "hf", "base_url": "https://router.huggingface.co/v1", "api_key_env": "HF_TOKEN", "default": true}'
else
	upstream="{\"name\": \"local\", \"base_url\": \"${UPSTREAM_URL:-http://127.0.0.1:11434/v1}\", \"default\": true}"
fi
cat >"$dir/toolhostd.json" <<JSON
{
  "listen": { "unix": { "path": "$dir/toolhostd.sock", "mode": "0660" } },
  "upstreams": [ $upstream ],
  "store": { "path": "$dir/toolhostd.db" },
  "log_level": "info"
}
JSON
"$bin" -n -c "$dir/toolhostd.json"
echo "toolhostd: socket $dir/toolhostd.sock (Ctrl-C stops it)"
exec "$bin" -c "$dir/toolhostd.json"
