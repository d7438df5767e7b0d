"""Loading an `hf:` model, its tokenizer and an optional PEFT adapter, with one-line errors.

A path that does not load should say which path and why in one line (a missing folder, a folder
that is not a model, a hub id that cannot be fetched offline), not print the hub client's
traceback and a progress bar.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doctune.foundation.config import ModelSettings
from doctune.foundation.errors import ModelError
from doctune.models.hub import HubUnavailable, load_local_first
from doctune.models.spec import ModelSpec, looks_like_path


def _offline() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def load_error(spec: str, what: str, target: str, exc: BaseException) -> ModelError:
    """One line a user can act on for `target` (a model or an adapter) that failed to load."""
    folder = Path(target).expanduser()
    if not folder.exists():
        if what == "adapter" or looks_like_path(target):
            return ModelError(f"{spec}: cannot load {what}: no folder '{target}'")
        if _offline():
            return ModelError(
                f"{spec}: cannot load {what} '{target}': not a local folder and not in the hub "
                "cache, and HF_HUB_OFFLINE is set (unset it to download, or give a local folder)"
            )
    expected = "adapter_config.json" if what == "adapter" else "config.json"
    if folder.is_dir() and not (folder / expected).is_file():
        return ModelError(f"{spec}: cannot load {what}: '{target}' has no {expected}")
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # Some messages put their point on the line after a colon.
    reason = " ".join(lines[:2]) if lines and lines[0].endswith(":") else (lines or [""])[0]
    return ModelError(
        f"{spec}: cannot load {what} '{target}': {reason[:200] or type(exc).__name__}"
    )


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and advisory warnings for the duration."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_tokenizer(spec: ModelSpec) -> Any:
    """The tokenizer of a spec (an adapter's own when it ships one, as after added tokens);
    loads no weights, so prompts can be counted and fitted before the model is needed."""
    from transformers import AutoTokenizer

    name = str(spec)
    source = spec.model
    if spec.adapter and (Path(spec.adapter) / "tokenizer_config.json").is_file():
        source = spec.adapter
    with quiet_transformers():
        try:
            return load_local_first(source, AutoTokenizer.from_pretrained)
        except HubUnavailable as exc:
            raise ModelError(f"{name}: cannot load model {exc}") from None
        except Exception as exc:
            raise load_error(name, "model", source, exc) from None


def config_context(spec: ModelSpec) -> int | None:
    """The context length the model's config states (what lm-evaluation-harness reads:
    n_positions, max_position_embeddings, n_ctx), read without the weights; None if it states
    none or cannot be read (loading the model will then say why)."""
    from transformers import AutoConfig

    try:
        with quiet_transformers():
            config = load_local_first(spec.model, AutoConfig.from_pretrained)
    except Exception:  # the model load that follows reports the problem in one line
        return None
    config = getattr(config, "text_config", None) or config
    for attr in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def load_model(spec: ModelSpec, settings: ModelSettings, device: str) -> Any:
    """The model of a spec in eval mode on `device`, its adapter merged; ModelError in one line."""
    import torch
    from transformers import AutoModelForCausalLM

    name = str(spec)
    dtype: Any = settings.dtype if settings.dtype == "auto" else getattr(torch, settings.dtype)
    with quiet_transformers():
        try:
            model = load_local_first(
                spec.model,
                functools.partial(
                    AutoModelForCausalLM.from_pretrained,
                    dtype=dtype,
                    device_map=None if device == "cpu" else device,
                ),
            )
        except HubUnavailable as exc:
            raise ModelError(f"{name}: cannot load model {exc}") from None
        except Exception as exc:
            raise load_error(name, "model", spec.model, exc) from None
        if spec.adapter:
            model = _with_adapter(name, model, spec.adapter)
    return model.to(device).eval()


def load_pretrained(spec: ModelSpec, settings: ModelSettings, device: str) -> tuple[Any, Any]:
    """(tokenizer, model in eval mode on `device`) for a spec; ModelError in one line if not."""
    return load_tokenizer(spec), load_model(spec, settings, device)


def _with_adapter(name: str, model: Any, adapter: str) -> Any:
    try:
        from peft import PeftModel
    except ImportError:
        raise ModelError(
            f"{name}: loading an adapter needs peft (pip install 'doctune[train]')"
        ) from None
    try:
        peft_model = PeftModel.from_pretrained(model, adapter)
    except Exception as exc:
        raise load_error(name, "adapter", adapter, exc) from None
    # Inference only: folding the LoRA weights in makes each step as cheap as the base model's.
    return peft_model.merge_and_unload()
