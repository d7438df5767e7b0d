# Sourced by scripts/setup.sh and scripts/check_llamafactory.sh: which build of PyTorch a virtual
# environment gets, and the constraint that keeps every later install on it.
#
# DOCTUNE_TORCH=cpu (default): a CPU build. A CPU wheel pip can already see (a local wheel folder
#   or an index configured on this machine, recognised by its "+cpu" label) is used as is;
#   otherwise it comes from the PyTorch CPU wheel index. Without this, PyPI's Linux wheel is a
#   CUDA build that pulls several GB of nvidia-* packages.
# DOCTUNE_TORCH=cuda: the default CUDA build from PyPI (for a machine with an NVIDIA GPU).
# A torch already in the environment is kept, whichever build it is.

TORCH_CPU_INDEX="${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"

# install_torch PYTHON
install_torch() {
    local py="$1" want="${DOCTUNE_TORCH:-cpu}" local_cpu
    if "$py" -c "import torch" 2>/dev/null; then
        return 0
    fi
    case "$want" in
        cuda)
            "$py" -m pip install -q torch
            ;;
        cpu)
            # The newest "+cpu" version pip finds through this machine's configuration, if any.
            local_cpu="$("$py" -m pip index versions torch 2>/dev/null |
                sed -n 's/^Available versions: //p' | tr ',' '\n' | tr -d ' ' |
                grep -E '\+cpu$' | head -n 1 || true)"
            if [[ -n "$local_cpu" ]]; then
                "$py" -m pip install -q "torch==$local_cpu"
            else
                # Only that index for torch itself: with PyPI beside it, a newer CUDA release
                # would win over the CPU one. The index also carries torch's own dependencies.
                "$py" -m pip install -q --index-url "$TORCH_CPU_INDEX" torch
            fi
            ;;
        *)
            echo "DOCTUNE_TORCH=$want: expected 'cpu' or 'cuda'" >&2
            return 2
            ;;
    esac
}

# write_torch_constraint PYTHON FILE: pin torch to the build installed, local label included
# ("2.13.0+cpu", "2.14.1"), so no later install swaps it for another build.
write_torch_constraint() {
    "$1" -c 'import importlib.metadata as m; print("torch==" + m.version("torch"))' >"$2"
}
