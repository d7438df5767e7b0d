"""Saving what training produced, and proving the files hold real weights.

Under DeepSpeed ZeRO-3 every process holds only a shard of each parameter; the local tensor is a
placeholder of shape [0]. Calling `model.save_pretrained(...)` there (what many training scripts
do) writes an adapter whose tensors are all empty, and nothing fails until someone loads it. doctune
saves through `Trainer.save_model` on every process: under ZeRO-3 with PEFT, transformers gathers
the trainable parameters (`_zero3_consolidated_16bit_state_dict(exclude_frozen_parameters=True)`,
a collective call) to the main process and saves that state dict; it needs
`stage3_gather_16bit_weights_on_model_save: true`, which the DeepSpeed config doctune writes sets
(without it transformers falls back to an empty adapter plus a raw DeepSpeed checkpoint). Under
FSDP the same call gathers a full state dict (`fsdp_state_dict_type: FULL_STATE_DICT`).

Whatever the path, the main process then reads the saved files back and checks every tensor has
elements and the shape the model declares (`ds_shape` under ZeRO-3), so an empty adapter fails
the experiment loudly instead of passing as trained.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from doctune.foundation.errors import DoctuneError
from doctune.models.hub import load_local_first

ADAPTER_FILE = "adapter_model.safetensors"


class SavedWeightsError(DoctuneError):
    """A saved adapter or model has empty or missing tensors."""

    exit_code = 1


def _shape(tensor: Any) -> tuple[int, ...]:
    # A ZeRO-3 partitioned parameter keeps its real shape in `ds_shape`; its data is empty.
    return tuple(int(d) for d in getattr(tensor, "ds_shape", tensor.shape))


def expected_tensors(model: Any) -> dict[str, tuple[int, ...]]:
    """Name -> full shape of what saving `model` must write.

    For a PEFT model, the keys PEFT's own save uses (adapter weights and modules_to_save copies);
    for a plain model, its parameters (shared ones once, as save_pretrained writes tied weights).
    """
    from peft import PeftModel, get_peft_model_state_dict

    if isinstance(model, PeftModel):
        # keep_vars: the Parameters themselves, which carry `ds_shape`; plain state_dict()
        # tensors are detached copies of the (empty) local shard.
        state = get_peft_model_state_dict(model, state_dict=model.state_dict(keep_vars=True))
        return {k: _shape(v) for k, v in state.items()}
    return {name: _shape(p) for name, p in model.named_parameters()}


def saved_shapes(folder: Path) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor in the safetensors files of a folder, read from headers."""
    from safetensors import safe_open

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise SavedWeightsError(f"{folder}: no .safetensors file was saved")
    shapes: dict[str, tuple[int, ...]] = {}
    for path in files:
        with safe_open(str(path), framework="pt") as fh:
            for key in fh.keys():  # noqa: SIM118 (safe_open is not iterable)
                shapes[key] = tuple(fh.get_slice(key).get_shape())
    return shapes


def verify_saved_weights(
    folder: str | Path, expected: dict[str, tuple[int, ...]], *, adapter: bool
) -> int:
    """Check a saved adapter (or full model) against the shapes the model declared.

    Adapter: every expected key present with its shape. Full model: as many elements saved as the
    model has (names may be rewritten by transformers' save conversions, counts may not).
    Every tensor must have elements. Returns the number of tensors; raises SavedWeightsError.
    """
    folder = Path(folder)
    if adapter and not (folder / ADAPTER_FILE).is_file():
        raise SavedWeightsError(f"{folder}: no {ADAPTER_FILE} was saved")
    shapes = saved_shapes(folder)
    empty = sorted(k for k, s in shapes.items() if _numel(s) == 0)
    if empty:
        raise SavedWeightsError(
            f"{folder}: {len(empty)} of {len(shapes)} saved tensors are empty (e.g. '{empty[0]}', "
            "shape [0]): the sharded (ZeRO-3) parameters were saved without being gathered"
        )
    if adapter:
        missing = sorted(set(expected) - set(shapes))
        if missing:
            raise SavedWeightsError(
                f"{folder}: {len(missing)} adapter tensors missing (e.g. '{missing[0]}')"
            )
        wrong = sorted(k for k in expected if shapes[k] != expected[k])
        if wrong:
            k = wrong[0]
            raise SavedWeightsError(
                f"{folder}: tensor '{k}' saved with shape {list(shapes[k])}, "
                f"the model has {list(expected[k])}"
            )
    else:
        saved, needed = sum(map(_numel, shapes.values())), sum(map(_numel, expected.values()))
        if saved < needed:
            raise SavedWeightsError(
                f"{folder}: {saved} parameters saved, the model has {needed}: the save is incomplete"
            )
    return len(shapes)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def save_trained(trainer: Any, dest: str | Path) -> int:
    """Save the trained adapter (or full model) and its tokenizer into `dest`, then verify it.

    Call on every process: under ZeRO-3 and FSDP the save gathers parameters collectively.
    Returns the number of tensors saved (0 on processes other than the main one).
    """
    expected = expected_tensors(trainer.model)
    trainer.save_model(str(dest))
    trainer.accelerator.wait_for_everyone()
    if not trainer.accelerator.is_main_process:
        return 0
    from peft import PeftModel

    return verify_saved_weights(dest, expected, adapter=isinstance(trainer.model, PeftModel))


def merge_adapter(base: str, adapter_dir: str | Path, dest: str | Path) -> None:
    """Fold a saved adapter into a fresh copy of its base model and save the result.

    Read back from the verified files rather than the in-memory model: under ZeRO-3 or FSDP
    the in-memory weights are shards, and the files are what evaluation will load anyway.
    """
    import functools

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = load_local_first(
        base, functools.partial(AutoModelForCausalLM.from_pretrained, dtype="auto")
    )
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(str(dest))
    AutoTokenizer.from_pretrained(str(adapter_dir)).save_pretrained(str(dest))
    verify_saved_weights(dest, expected_tensors(merged), adapter=False)
