#!/usr/bin/env bash
# Provides a runnable code-server (a real VS Code: workbench, extension host, webviews)
# for the end-to-end suite, plus the Debian packages it and headless Chromium need.
#
# Why code-server and not @vscode/test-electron: the test-electron download comes from
# update.code.visualstudio.com, which machines without general internet cannot reach,
# while code-server ships through npm. Its plain `npm install` runs postinstall scripts
# that download more things; the steps below avoid every download outside npm and apt.
#
# Idempotent: a marker file records a finished install; a second run only checks it.
# Usage: scripts/e2e/provide-code-server.sh [cache-root]   (default: <repo>/.e2e-cache)
# Prints the install folder as its last line of stdout.
set -euo pipefail

readonly CODE_SERVER_VERSION="4.100.3"
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cache_root="${1:-${CIRCUIT_TRACE_E2E_CACHE:-$repo_root/.e2e-cache}}"
install_dir="$cache_root/code-server-$CODE_SERVER_VERSION"
marker="$install_dir/.provided"

started_at=$(date +%s)
step_started_at=$started_at
log() { echo "[provide-code-server] $*" >&2; }
step() {
  local now; now=$(date +%s)
  log "$(printf '(+%4ss) %s' "$((now - started_at))" "$*")"
  step_started_at=$now
}
step_done() { local now; now=$(date +%s); log "  done in $((now - step_started_at))s"; }

# Two runs at once (the e2e suite and `npm run demo`, say) take turns: the second waits here
# and then finds everything provided.
mkdir -p "$cache_root"
exec 9>"$cache_root/.provide.lock"
if ! flock -n 9; then
  log "another run is providing code-server; waiting for it"
  flock 9
fi

# ---- Debian packages --------------------------------------------------------------
# chromium: the browser playwright-core drives (playwright's own browser download is not reachable).
# lib*-dev: headers for code-server's native modules (kerberos, native-keymap, keytar-like secrets).
# ripgrep: VS Code's search; the npm @vscode/ripgrep postinstall would download it from GitHub.
apt_packages=(chromium libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev ripgrep python3 make g++ pkg-config)
missing=()
for pkg in "${apt_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    # python3 may come from pyenv rather than Debian; a working interpreter is enough.
    if [[ "$pkg" == python3 ]] && command -v python3 >/dev/null; then continue; fi
    missing+=("$pkg")
  fi
done
if ((${#missing[@]} > 0)); then
  step "apt-get install ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  step_done
else
  log "Debian packages present"
fi

# ---- code-server -------------------------------------------------------------------
if [[ -f "$marker" ]]; then
  log "code-server $CODE_SERVER_VERSION already provided in $install_dir"
  echo "$install_dir"
  exit 0
fi

mkdir -p "$cache_root"
# A half-finished earlier attempt is discarded: partial native builds are not worth diagnosing.
rm -rf "$install_dir" "$install_dir.partial"
work="$install_dir.partial"
mkdir -p "$work"

step "npm pack code-server@$CODE_SERVER_VERSION"
(cd "$work" && npm pack --silent "code-server@$CODE_SERVER_VERSION" >/dev/null)
tar -xzf "$work"/code-server-"$CODE_SERVER_VERSION".tgz -C "$work"
rm -f "$work"/code-server-"$CODE_SERVER_VERSION".tgz
pkg="$work/package"
step_done

# --ignore-scripts: the postinstall scripts download prebuilt artifacts from outside npm.
npm_install() {
  (cd "$1" && npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
}
step "npm install (code-server)"; npm_install "$pkg"; step_done
step "npm install (lib/vscode)"; npm_install "$pkg/lib/vscode"; step_done
step "npm install (lib/vscode/extensions)"; npm_install "$pkg/lib/vscode/extensions"; step_done

# @vscode/ripgrep's postinstall downloads rg from GitHub unless its bin/ folder exists:
# Debian's ripgrep goes there first, so the rebuild below skips that download.
step "ripgrep and node_modules.asar"
rg_dir="$pkg/lib/vscode/node_modules/@vscode/ripgrep/bin"
mkdir -p "$rg_dir"
cp "$(command -v rg)" "$rg_dir/rg"
# VS Code's server resolves some modules through node_modules.asar, which the npm package lacks.
if [[ ! -e "$pkg/lib/vscode/node_modules.asar" ]]; then
  ln -s node_modules "$pkg/lib/vscode/node_modules.asar"
fi
step_done

# Native modules are then compiled from source with node-gyp against the local headers.
# npm_config_yes answers the prompts some packages' install scripts raise.
step "npm rebuild (lib/vscode; native modules, the slow step)"
(cd "$pkg/lib/vscode" && npm_config_yes=true npm rebuild --loglevel=error >&2)
step_done
# code-server's own postinstall.sh repeats the lib/vscode installs (with scripts, so with
# downloads) and then makes two symlinks; its only native dependency is argon2, whose
# install script would first try a prebuilt download from GitHub. Build argon2 from
# source and make the symlinks here instead.
step "npm rebuild argon2 (code-server, from source)"
(cd "$pkg" && npm_config_build_from_source=true npm rebuild argon2 --loglevel=error >&2)
ln -sfn code-linux.sh "$pkg/lib/vscode/bin/remote-cli/code-server"
ln -sfn browser-linux.sh "$pkg/lib/vscode/bin/helpers/browser.sh"
step_done

step "smoke check: code-server --version"
node "$pkg/out/node/entry.js" --version >&2
step_done

mv "$work" "$install_dir"
date -u +%Y-%m-%dT%H:%M:%SZ > "$marker"
step "code-server $CODE_SERVER_VERSION provided in $install_dir"
echo "$install_dir"
