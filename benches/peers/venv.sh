#!/usr/bin/env bash
# Makes a venv (.venv/, or VENV=target/ray-venv) with the peers' Python packages (from PyPI) and prints
# its python, or prints nothing and explains on stderr why the peer is skipped. A package is a module
# name, or a pip requirement and the module that shows it is there: 'ray[tune]:ray.tune'.
# Usage: py=$(benches/peers/venv.sh optuna torch scipy)
#        py=$(VENV=target/ray-venv benches/peers/venv.sh 'ray[tune]:ray.tune' torch numpy)
set -u
cd "$(dirname "$0")/../.."
venv=${VENV:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2 || { echo "skipping the peer: python3 -m venv $venv failed" >&2; exit 0; }
fi
missing=()
for pkg in "$@"; do
  "$venv/bin/python" -c "import ${pkg#*:}" 2>/dev/null || missing+=("${pkg%%:*}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} into $venv (PyPI; torch is large)" >&2
  "$venv/bin/pip" install -q "${missing[@]}" >&2 || { echo "skipping the peer: pip install ${missing[*]} into $venv failed" >&2; exit 0; }
fi
echo "$PWD/$venv/bin/python"
