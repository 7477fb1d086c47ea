# Sourced by the stack scripts: exports every setting of .env.example, taking the value from the
# environment first, then from .env, then the default in .env.example.
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_load_env_file() {
  local file="$1" line key val
  [ -f "$file" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in ''|'#'*) continue ;; esac
    key="${line%%=*}"; val="${line#*=}"
    [ -n "${!key+x}" ] || export "$key=$val"
  done <"$file"
}
_load_env_file "$_root/.env"
_load_env_file "$_root/.env.example"
case "$CHAT_VAR_DIR" in /*) ;; *) CHAT_VAR_DIR="$_root/$CHAT_VAR_DIR" ;; esac
export CHAT_VAR_DIR ROOT_DIR="$_root"
unset _root
