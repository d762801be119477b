#!/usr/bin/env bash
# Runs the rnnkit commands in a real terminal (a detached tmux pane of COLUMNS x 30) and prints
# what the terminal shows: for train and translate a snapshot while the progress bar runs, then
# the pane at the end. Made docs/terminal-80.txt and docs/terminal-120.txt:
#   bash scripts/terminal-capture.sh 80 > docs/terminal-80.txt
# Needs tmux and a build (pnpm build). Runs write under a temporary folder, removed at the end.
set -euo pipefail
columns="${1:-80}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/rnnkit-terminal.XXXXXX")"
socket="rnnkit-capture-$$"
trap 'tmux -L "$socket" kill-server 2>/dev/null || true; rm -rf "$work"' EXIT
# The panes run "rnnkit" from PATH: a two-line wrapper around this checkout's build.
mkdir -p "$work/bin"
printf '#!/bin/sh\nexec node "%s/apps/cli/dist/bin.js" "$@"\n' "$root" >"$work/bin/rnnkit"
chmod +x "$work/bin/rnnkit"

trim() { sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }

# capture "what this shows" COMMAND: one fresh pane per command, the prompt "$ ".
capture() {
  local title=$1 command=$2 pane mid=""
  tmux -L "$socket" new-session -d -s cap -x "$columns" -y 30 -c "$work" "PATH='$work/bin:$PATH' bash --norc --noprofile"
  tmux -L "$socket" set -t cap status off >/dev/null
  tmux -L "$socket" send-keys -t cap "PS1='\$ '; clear" Enter
  sleep 0.3
  tmux -L "$socket" send-keys -t cap "$command; echo \"[exit \$?]\"" Enter
  for _ in $(seq 1 2400); do
    sleep 0.25
    pane=$(tmux -L "$socket" capture-pane -p -t cap)
    # The last view with the progress bar on it (its "% |" and "left").
    if grep -q '% |' <<<"$pane" && grep -q ' left' <<<"$pane"; then mid=$pane; fi
    if grep -q '^\[exit [0-9]*\]' <<<"$pane"; then break; fi
  done
  echo "=== $title"
  if [ -n "$mid" ]; then
    echo "--- while it runs:"
    trim <<<"$mid"
    echo "--- at the end:"
  fi
  tmux -L "$socket" capture-pane -p -t cap -S -200 | trim
  echo
  tmux -L "$socket" kill-session -t cap
}

echo "# rnnkit in tmux, $columns columns x 30 rows (bash scripts/terminal-capture.sh $columns), rnnkit"
echo "# being this checkout's apps/cli/dist/bin.js. Figures (tokens/s, times) vary from run to run."
echo
capture "train: a progress bar, samples every 4 epochs, the summary" "rnnkit train --epochs 12 --max-tokens 10000 --print-every 4 --out run"
capture "train with stderr redirected: the bar and the lines still show; the backend line is in the file" "rnnkit train --epochs 12 --max-tokens 10000 --print-every 4 --out run2 2>err.txt; cat err.txt"
capture "rnnkit with no command: the help, exit code 2" "rnnkit"
capture "generate: the prefix preprocessed as the training text" "rnnkit generate --checkpoint run --length 60 --prefix 'Time Traveller!'"
capture "translate: a progress bar (loss), d2l's examples, BLEU, a sentence" "rnnkit translate --epochs 30 --out tr --sentence 'I am cold.'"
capture "bench: one case, 5 steps" "rnnkit bench --backends wasm --only fused-gru-256 --steps 5"
