#!/usr/bin/env bash
# Install famtune as a kiosk appliance on a Jetson Orin Nano with JetPack 6 (L4T r36,
# Ubuntu 22.04, aarch64, CUDA 12.6 under /usr/local/cuda).
#
#   sudo packaging/install-jetson.sh --dry-run   # print every step and its exact commands
#   sudo packaging/install-jetson.sh             # do it (as root, on the Jetson only)
#
# What it does, in order: system packages (cage, seatd, build tools), the user famtune, a copy
# of this checkout in /opt/famtune/src, the virtual environment /opt/famtune/.venv with torch
# from NVIDIA's JetPack wheels, llama-cpp-python built with CUDA for sm_87, bitsandbytes built
# for sm_87, then the app itself; the data directory /var/lib/famtune (famtune:famtune, 0700)
# prepared by `famtune-engine init` as famtune; the systemd unit installed and enabled, the
# desktop's display manager disabled and the graphical target made the default. Running it
# again updates the installation (each step is safe to repeat).
#
# Settings (environment variables):
#   TORCH_INDEX_URL    NVIDIA's wheel directory for the JetPack release; the pattern is
#                      https://developer.download.nvidia.com/compute/redist/jp/v<JetPack>/pytorch/
#                      (v61 serves JetPack 6.1 and 6.2, both CUDA 12.6)
#   TORCH_WHEEL        the exact wheel file there (a pinned build, never "latest")
#   TORCH_SHA256       optional sha256 of that wheel; pip refuses a download that differs
#   LLAMA_CPP_VERSION  llama-cpp-python version (the one the project is tested with)
#   BNB_VERSION        bitsandbytes release tag to build
#   CUDA_HOME          CUDA toolkit (default /usr/local/cuda)
#   BUILD_JOBS         parallel compile jobs (default 4; lower it if a build runs out of memory)
#   FAMTUNE_SRC        the checkout to install (default: the one this script is in)
set -euo pipefail

TORCH_INDEX_URL="${TORCH_INDEX_URL:-https://developer.download.nvidia.com/compute/redist/jp/v61/pytorch/}"
TORCH_WHEEL="${TORCH_WHEEL:-torch-2.5.0a0+872d972e41.nv24.08.17622132-cp310-cp310-linux_aarch64.whl}"
TORCH_SHA256="${TORCH_SHA256:-}"
LLAMA_CPP_VERSION="${LLAMA_CPP_VERSION:-0.3.36}"
BNB_VERSION="${BNB_VERSION:-0.50.2}"
CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}"
BUILD_JOBS="${BUILD_JOBS:-4}"
FAMTUNE_SRC="${FAMTUNE_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"

# Fixed: packaging/famtune.service names these paths.
readonly USER_NAME=famtune
readonly PREFIX=/opt/famtune
readonly VENV="$PREFIX/.venv"
readonly DATA_DIR=/var/lib/famtune
readonly CACHE_DIR=/var/cache/famtune
readonly UNIT=famtune.service
readonly UNIT_DIR=/etc/systemd/system
readonly BNB_REPO=https://github.com/bitsandbytes-foundation/bitsandbytes.git
readonly APT_PACKAGES=(
    cage seatd
    python3 python3-venv python3-dev python3-pip
    build-essential cmake ninja-build pkg-config git rsync
    libopenblas-dev
    libxkbcommon0 libwayland-client0 libwayland-cursor0 libwayland-egl1
    libegl1 libgl1 libfontconfig1 libdbus-1-3 libglib2.0-0 fonts-dejavu-core
    libxcb-cursor0  # Qt's xcb platform needs it (QT_QPA_PLATFORM=xcb under cage's Xwayland)
)
readonly DISPLAY_MANAGERS=(gdm3 gdm lightdm sddm)

DRY_RUN=0
STEP=0

usage() {
    cat <<EOF
usage: $0 [--dry-run]

Installs famtune as a kiosk appliance on a Jetson Orin Nano (JetPack 6).
  --dry-run   print every step with its exact commands and change nothing
  -h, --help  this text
Settings are environment variables; see the head of this script.
EOF
}

# A command as it can be pasted into a shell: words that need it are single-quoted.
quote() {
    local word out=()
    for word in "$@"; do
        if [[ "$word" =~ ^[A-Za-z0-9_./:=@%+,-]+$ ]]; then
            out+=("$word")
        else
            out+=("'${word//\'/\'\\\'\'}'")
        fi
    done
    printf '%s' "${out[*]}"
}

step() {
    STEP=$((STEP + 1))
    printf '\n[%d] %s\n' "$STEP" "$1"
}

# Print a command, then run it unless this is a dry run.
run() {
    printf '    $ %s\n' "$(quote "$@")"
    if ((DRY_RUN == 0)); then
        "$@"
    fi
}

# The same for a shell snippet (pipes, redirections, conditions), printed as written.
run_sh() {
    printf '    $ %s\n' "$1"
    if ((DRY_RUN == 0)); then
        bash -c "$1"
    fi
}

note() {
    printf '    # %s\n' "$1"
}

die() {
    printf 'install-jetson.sh: %s\n' "$1" >&2
    exit 1
}

preflight() {
    local problems=() machine
    machine="$(uname -m)"
    if ((EUID != 0)); then
        problems+=("it must run as root (try: sudo $0)")
    fi
    if [[ "$machine" != aarch64 ]]; then
        problems+=("this machine is $machine; the installer is for the Jetson (aarch64, JetPack 6)")
    fi
    if ((${#problems[@]})); then
        printf 'install-jetson.sh: refusing to install: %s\n' "${problems[@]}" >&2
        printf 'install-jetson.sh: nothing was changed; --dry-run shows the steps anywhere\n' >&2
        exit 1
    fi
    [[ -e /etc/nv_tegra_release ]] \
        || die "no /etc/nv_tegra_release: this does not look like a Jetson with JetPack (L4T)"
    [[ -x "$CUDA_HOME/bin/nvcc" ]] \
        || die "no $CUDA_HOME/bin/nvcc: install the CUDA toolkit (sudo apt-get install nvidia-jetpack)"
    [[ -f "$FAMTUNE_SRC/pyproject.toml" && -f "$FAMTUNE_SRC/packaging/$UNIT" ]] \
        || die "$FAMTUNE_SRC is not a famtune checkout (set FAMTUNE_SRC)"
}

main() {
    while (($#)); do
        case "$1" in
            --dry-run) DRY_RUN=1 ;;
            -h | --help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument: $1" ;;
        esac
        shift
    done

    local torch_url="$TORCH_INDEX_URL$TORCH_WHEEL"
    if [[ -n "$TORCH_SHA256" ]]; then
        torch_url="$torch_url#sha256=$TORCH_SHA256"
    fi
    local pip="$VENV/bin/pip"
    local python="$VENV/bin/python"
    local bnb_src="$PREFIX/build/bitsandbytes-$BNB_VERSION"
    local constraints="$PREFIX/constraints-jetson.txt"

    if ((DRY_RUN)); then
        printf 'famtune Jetson installer: DRY RUN, nothing is changed.\n'
        printf 'source %s, torch %s, llama-cpp-python %s, bitsandbytes %s\n' \
            "$FAMTUNE_SRC" "$torch_url" "$LLAMA_CPP_VERSION" "$BNB_VERSION"
        printf 'A real run needs root on the Jetson (aarch64); this machine: %s, uid %d.\n' \
            "$(uname -m)" "$EUID"
    else
        preflight
        printf 'famtune Jetson installer: installing from %s\n' "$FAMTUNE_SRC"
    fi

    step "System packages: the kiosk compositor and seat daemon, Python, build tools, Qt's libraries"
    run apt-get update
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        "${APT_PACKAGES[@]}"

    step "Seat daemon: hands the display and input devices to members of the group video"
    run systemctl enable --now seatd.service

    step "User famtune: no login shell, home = the data directory, groups video, render, input"
    run groupadd -f --system render
    run_sh "id -u $USER_NAME >/dev/null 2>&1 || useradd --system --user-group --home-dir $DATA_DIR --no-create-home --shell /usr/sbin/nologin --comment 'famtune kiosk' $USER_NAME"
    run usermod --append --groups video,render,input "$USER_NAME"

    step "Source: a copy of this checkout in $PREFIX/src (root-owned, read-only to famtune)"
    run install -d -o root -g root -m 0755 "$PREFIX" "$PREFIX/src" "$PREFIX/build"
    run rsync -a --delete --exclude=/.git --exclude=/.venv --exclude=__pycache__ \
        --exclude='*.egg-info' --exclude=/build --exclude=/home-dev "$FAMTUNE_SRC/" "$PREFIX/src/"

    step "Virtual environment $VENV"
    run_sh "test -x $python || python3 -m venv $VENV"
    run "$pip" install --upgrade pip setuptools wheel

    step "torch from NVIDIA's JetPack 6 wheels (CUDA for sm_87; PyPI's aarch64 torch has no Jetson CUDA)"
    run "$pip" install --no-cache-dir "$torch_url"
    run "$python" -c 'import torch; assert torch.cuda.is_available(), "torch sees no CUDA device"; print("torch", torch.__version__, torch.cuda.get_device_name(0))'
    note "if this fails on libcusparseLt: JetPack 6.1+ torch wheels need cuSPARSELt; see NVIDIA's 'Installing PyTorch for Jetson Platform'"

    step "llama-cpp-python $LLAMA_CPP_VERSION built with CUDA for sm_87 (a long build on the Orin Nano)"
    run env "CMAKE_ARGS=-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=87" \
        "CUDACXX=$CUDA_HOME/bin/nvcc" "CMAKE_BUILD_PARALLEL_LEVEL=$BUILD_JOBS" \
        "$pip" install --no-cache-dir --no-binary=llama-cpp-python \
        "llama-cpp-python==$LLAMA_CPP_VERSION"

    step "bitsandbytes $BNB_VERSION built for sm_87 (PyPI's aarch64 wheels carry no sm_87 kernels)"
    run rm -rf "$bnb_src"
    run git clone --depth 1 --branch "$BNB_VERSION" "$BNB_REPO" "$bnb_src"
    run cmake -S "$bnb_src" -B "$bnb_src/build" -DCOMPUTE_BACKEND=cuda -DCOMPUTE_CAPABILITY=87 \
        "-DCMAKE_CUDA_COMPILER=$CUDA_HOME/bin/nvcc"
    run cmake --build "$bnb_src/build" --parallel "$BUILD_JOBS"
    run "$pip" install --no-cache-dir "$bnb_src"

    step "Pin the three hardware builds so that installing the app can never replace them"
    run_sh "$python -c \"import importlib.metadata as m; print(*(f'{p}=={m.version(p)}' for p in ('torch', 'llama-cpp-python', 'bitsandbytes')), sep='\\n')\" > $constraints"

    step "The app (no CPU constraints here: torch comes from JetPack)"
    note "Ubuntu 22.04 has glibc 2.35: PySide6 wheels for aarch64 after 6.8.0.2 need glibc 2.39, so pip picks 6.8.0.2"
    run "$pip" install --no-cache-dir -c "$constraints" "$PREFIX/src"
    run "$python" -c 'import bitsandbytes, llama_cpp, numpy, PySide6, torch; assert llama_cpp.llama_supports_gpu_offload(), "llama.cpp was built without CUDA"; torch.from_numpy(numpy.zeros(1)); print("llama-cpp-python", llama_cpp.__version__, "| bitsandbytes", bitsandbytes.__version__, "| PySide6", PySide6.__version__)'

    step "Data directory $DATA_DIR (famtune:famtune, 0700) and cache $CACHE_DIR"
    run install -d -o "$USER_NAME" -g "$USER_NAME" -m 0700 "$DATA_DIR" "$CACHE_DIR"
    run runuser -u "$USER_NAME" -- env -C "$DATA_DIR" "HOME=$DATA_DIR" "XDG_CACHE_HOME=$CACHE_DIR" \
        HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
        "$VENV/bin/famtune-engine" --home "$DATA_DIR" init --no-demo
    run chown -R "$USER_NAME:$USER_NAME" "$DATA_DIR"
    run chmod 0700 "$DATA_DIR"

    step "systemd unit $UNIT_DIR/$UNIT"
    run install -o root -g root -m 0644 "$PREFIX/src/packaging/$UNIT" "$UNIT_DIR/$UNIT"
    run systemctl daemon-reload

    step "Hand the screen to famtune: disable the desktop's display manager, where one is installed"
    local dm
    for dm in "${DISPLAY_MANAGERS[@]}"; do
        run_sh "if systemctl cat $dm.service >/dev/null 2>&1; then systemctl disable $dm.service; fi"
    done

    step "Start famtune at boot: graphical target by default, the unit enabled"
    run systemctl set-default graphical.target
    run systemctl enable "$UNIT"

    printf '\n'
    if ((DRY_RUN)); then
        printf 'Dry run: %d steps shown, nothing was changed.\n' "$STEP"
    else
        printf 'Installed. Reboot (or: sudo systemctl start %s) to start the kiosk;\n' "$UNIT"
        printf 'logs: journalctl -u %s -b\n' "$UNIT"
    fi
}

main "$@"
