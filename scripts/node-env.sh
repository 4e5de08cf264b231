# Sourced by the project's scripts after install-deps.sh: puts the newest supported Node first on
# PATH (Node 24 from .tools/node when the machine's own is older) and remembers the machine's own
# Node in machine_node, for the checks that run on it too.
machine_node="$(command -v node)"
export machine_node
if [ -x "$root/.tools/node/bin/node" ] && [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 24 ]; then
  export PATH="$root/.tools/node/bin:$PATH"
fi
