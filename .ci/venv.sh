# Sourced by the .ci scripts that run a pinned Python tool from PyPI.
#
# pinned_venv PACKAGE VERSION VENV: makes VENV a virtual environment holding
# PACKAGE==VERSION, unless it already holds that version (so a CI machine that kept
# target/ installs nothing again, and a new pin reinstalls).
pinned_venv() {
  local package=$1 version=$2 venv=$3 installed
  installed=$("$venv/bin/python" -c \
    "import importlib.metadata as m; print(m.version('$package'))" 2>/dev/null || true)
  if [ "$installed" != "$version" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "$package==$version"
  fi
}
