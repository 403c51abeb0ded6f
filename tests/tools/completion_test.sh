#!/usr/bin/env bash
# completion_test.sh TW: the script `tw completion bash` prints completes
# verbs, sub-verbs and flags in a real bash; `zsh` prints the same through
# bashcompinit; a bad shell name is a usage error.
set -euo pipefail
tw=${1:?usage: completion_test.sh TW}
# shellcheck disable=SC1090
source <("$tw" completion bash)

complete_words() {  # complete_words WORD... : completions of the last word
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMPREPLY=()
    _tw
    echo "${COMPREPLY[*]}"
}
expect() {  # expect WANT WORD...
    local want=$1
    shift
    local got
    got=$(complete_words "$@")
    if [ "$got" != "$want" ]; then
        echo "completing '$*': want '$want', got '$got'" >&2
        exit 1
    fi
}

expect "tune" tw tu
expect "micro" tw bench mi
expect "--sim --seed" tw tune --s
expect "--quiet" tw tune --sim 4 --qu
expect "--channels --channel-concurrency" tw tune --sim 4 --chan
expect "--json" tw bench micro --js
# After a flag that names a file: file names (this script's folder holds it).
here=$(dirname "$0")
expect "$here/completion_test.sh" tw tune --report "$here/completion_te"

"$tw" completion zsh | head -n 1 | grep -q bashcompinit
if "$tw" completion fish 2>/dev/null; then
    echo "tw completion fish should be a usage error" >&2
    exit 1
fi
echo "completion: ok"
