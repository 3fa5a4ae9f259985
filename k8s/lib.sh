# shellcheck shell=bash
# Helpers for deploy.sh, kept in their own file so that tests/test_k8s_static.py can call
# them one by one (source this file, call a function, read stdout).
# Written for bash 3.2 as well, the /bin/bash of macOS: no associative arrays, no ${x,,}.

# detect_host_system: print linux, wsl, darwin or windows (Git Bash, MSYS2, Cygwin).
detect_host_system() {
  case $(uname -s) in
    Darwin) echo darwin ;;
    MINGW* | MSYS* | CYGWIN*) echo windows ;;
    Linux)
      # WSL kernels say so in their release string (e.g. 5.15.90.1-microsoft-standard-WSL2).
      case $(uname -r | tr '[:upper:]' '[:lower:]') in
        *microsoft*) echo wsl ;;
        *) echo linux ;;
      esac
      ;;
    *) echo linux ;;
  esac
}

# host_path_for_cluster PATH [SYSTEM]: print the path under which the Kubernetes node of
# Docker Desktop sees the host folder PATH, for a hostPath volume. SYSTEM is what
# detect_host_system prints (detected when omitted).
#   Windows  C:\Users\me\hzz, C:/Users/me/hzz, /c/Users/me/hzz (Git Bash), /cygdrive/c/...
#            -> /run/desktop/mnt/host/c/Users/me/hzz
#   WSL      /mnt/c/Users/me/hzz -> /run/desktop/mnt/host/c/Users/me/hzz
#   macOS    /Users/me/hzz unchanged (Docker Desktop shares /Users under the same path)
#   Linux    unchanged (the node is this machine, or shares its paths: kind, the sandbox)
host_path_for_cluster() {
  local path=$1 system=${2:-} drive rest
  [[ -n $system ]] || system=$(detect_host_system)
  # A drive-letter path (C:\... or C:/...) can only mean Windows, whatever the shell says.
  case $path in
    [A-Za-z]:[\\/]* | [A-Za-z]:)
      drive=${path:0:1}
      rest=${path:2}
      _desktop_drive_path "$drive" "${rest//\\//}"
      return
      ;;
  esac
  case $system in
    windows)
      case $path in
        /cygdrive/[A-Za-z] | /cygdrive/[A-Za-z]/*) _desktop_drive_path "${path:10:1}" "${path:11}"; return ;;
        /[A-Za-z] | /[A-Za-z]/*) _desktop_drive_path "${path:1:1}" "${path:2}"; return ;;
      esac
      ;;
    wsl)
      case $path in
        /mnt/[A-Za-z] | /mnt/[A-Za-z]/*) _desktop_drive_path "${path:5:1}" "${path:6}"; return ;;
      esac
      ;;
  esac
  printf '%s\n' "$path"
}

# _desktop_drive_path DRIVE REST: Docker Desktop mounts drive X: of the host at
# /run/desktop/mnt/host/x inside its VM, where the kubelet resolves hostPath volumes.
_desktop_drive_path() {
  local drive rest=$2
  drive=$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')
  rest=${rest%/}
  case $rest in
    '' | /*) ;;
    *) rest=/$rest ;;
  esac
  printf '/run/desktop/mnt/host/%s%s\n' "$drive" "$rest"
}

# The ${NAME} placeholders that render_manifest fills in k8s/*.yaml, from variables of the
# same name. Keep in sync with the manifests; render_manifest refuses leftovers.
HZZ_TEMPLATE_VARS="HZZ_VERSION HZZ_PROFILE HZZ_OUTPUT_HOST_PATH HZZ_DATASET HZZ_SAMPLES
HZZ_CHUNK_SIZE HZZ_RUN_ID HZZ_MIN_WORKERS HZZ_MAX_WORKERS HZZ_CPU_TARGET"

# The line of worker.yaml and producer-job.yaml that stands for the dataset volume. With a
# local dataset folder (HZZ_DATASET_HOST_PATH set) render_manifest swaps it for a read-only
# hostPath of that folder; otherwise the empty volume stays and the files come over HTTPS.
HZZ_DATASET_VOLUME_LINE='emptyDir: {}  # hzz:dataset-volume'

# _yaml_escape TEXT: TEXT made safe inside a YAML "double-quoted" string (every string
# placeholder in k8s/*.yaml sits in double quotes).
_yaml_escape() {
  printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'
}

# _sed_escape TEXT: TEXT made safe as the replacement of a sed s|...|...| command.
_sed_escape() {
  printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'
}

# render_manifest FILE: print FILE with its ${HZZ_...} placeholders filled in from the
# variables of the same name (and the dataset volume swapped, see above). Fails, naming
# the placeholder, if one is left unfilled, so a typo cannot reach the cluster.
render_manifest() {
  local file=$1 name value out leftover
  # Starts with a no-op so it is never empty ("${args[@]}" of an empty array fails under set -u in bash < 4.4).
  local args=(-e 's/^//')
  for name in $HZZ_TEMPLATE_VARS; do
    value=${!name-}
    # An empty value is left as a placeholder, so that the check below names it.
    [[ -z $value ]] || args+=(-e "s|\${$name}|$(_sed_escape "$(_yaml_escape "$value")")|g")
  done
  if [[ -n ${HZZ_DATASET_HOST_PATH:-} ]]; then
    value="hostPath: {path: \"$(_yaml_escape "$HZZ_DATASET_HOST_PATH")\", type: Directory}"
    args+=(-e "s|$HZZ_DATASET_VOLUME_LINE|$(_sed_escape "$value")|")
  fi
  out=$(sed "${args[@]}" "$file") || return 1
  # shellcheck disable=SC2016 # a literal ${NAME}, not an expansion
  leftover=$(printf '%s\n' "$out" | grep -o '\${[A-Z_]*}' | sort -u | tr '\n' ' ' || true)
  if [[ -n $leftover ]]; then
    echo "render_manifest: $file: no value for ${leftover% }" >&2
    return 1
  fi
  printf '%s\n' "$out"
}

# give_folder_to_user DIR UID: let the user UID (the pods' user) write into DIR without making
# DIR writable for everyone: DIR belongs to UID already; or, run as root, DIR is given to UID;
# or an ACL entry grants UID access (setfacl, as DIR's owner). Write access for others, which
# older versions of deploy.sh granted, is taken away. Fails when none of these is possible.
give_folder_to_user() {
  local dir=$1 uid=$2
  chmod o-w "$dir" 2>/dev/null || true
  [[ $(stat -c %u "$dir") != "$uid" ]] || return 0
  if [[ $(id -u) == 0 ]]; then
    chown "$uid:$uid" "$dir" && chmod 0755 "$dir"
    return
  fi
  command -v setfacl >/dev/null 2>&1 && setfacl -m "u:$uid:rwx" "$dir"
}

# rabbitmq_conf USER PASSWORD: the broker's rabbitmq.conf, which k8s/rabbitmq.yaml mounts from
# the Secret hzz-rabbitmq: this deployment's user (an administrator, as the default user is,
# so that the management API answers it) instead of guest, and the logs on the console.
rabbitmq_conf() {
  printf '%s\n' \
    "default_user = $1" \
    "default_pass = $2" \
    "loopback_users = none" \
    "listeners.tcp.default = 5672" \
    "management.tcp.port = 15672" \
    "log.console = true" \
    "log.console.level = info" \
    "log.file = false"
}
