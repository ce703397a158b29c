#!/usr/bin/env bash
# Run a pip command with its output in a log file instead of the terminal: pip, setuptools'
# editable build and this machine's pip configuration print warnings that are not about the
# project. On failure the log's last lines are shown and the exit code is pip's.
# Usage: bash scripts/quiet-pip.sh LOGFILE PIP ARGS...
set -uo pipefail
log=$1
shift
"$@" >>"$log" 2>&1
status=$?
if [ "$status" -ne 0 ]; then
  echo "error: '$*' failed (exit $status); last lines of $log:" >&2
  tail -n 25 "$log" >&2
fi
exit "$status"
