"""Weights files: weights-only, sha256-verified, found without network access.

A weights file is a ``torch.save``d plain dict (tensors, strings, numbers, lists, dicts only), so it loads
with ``torch.load(weights_only=True)`` and is never unpickled as arbitrary objects::

    {"format": "protsteer-weights/1", "task": str, "labels": [str, ...],
     "network": dict,       # protsteer.networks module .config, rebuilt with build_network
     "voxel_spec": dict,    # protsteer.voxel.VoxelSpec fields
     "read_policy": dict,   # protsteer.structure reading options used in training
     "metadata": dict,      # free-form provenance (data, split, metrics, hardware ...)
     "state_dict": {name: tensor}}

Every file has a recorded sha256: a sidecar ``<file>.sha256`` (``sha256sum`` format) written by
:func:`save_weights`, and for shipped models an entry in ``index.json`` of the models directory
(:func:`register_weights`). :func:`load_weights` hashes the exact bytes it then deserialises and refuses a
mismatch.

Named weights (``propensity-v1``) live in the ``protsteer.models`` package: the top-level ``models/``
directory of a checkout, installed as package data.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import io
import json
import logging
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from protsteer.errors import ProtsteerError
from protsteer.io.atomic import atomic_write_bytes, atomic_write_text

logger = logging.getLogger(__name__)

WEIGHTS_FORMAT = "protsteer-weights/1"
WEIGHTS_SUFFIX = ".pt"
INDEX_NAME = "index.json"
SIDECAR_SUFFIX = ".sha256"

_REQUIRED_KEYS = (
    "format",
    "task",
    "labels",
    "network",
    "voxel_spec",
    "read_policy",
    "metadata",
    "state_dict",
)


@dataclass
class LoadedWeights:
    """A ready-to-use model and everything recorded with it.

    Attributes:
        model: the network in eval mode on the requested device; maps ``[B, C, G, G, G]`` grids to
            ``[B, len(labels)]`` logits.
        task: ``"propensity"`` or ``"cath"``.
        labels: the output classes in logit order (``ACDEFGHIKLMNPQRSTVWY`` letters for propensity).
        voxel_spec: the :class:`protsteer.voxel.VoxelSpec` the model was trained with.
        read_policy: keyword options of the structure reader used in training.
        metadata: free-form provenance stored in the file.
        sha256: hex digest of the file (verified).
        path: the file that was loaded.
        name: the registered name (``propensity-v1``) or the file stem.
        network_config: the ``build_network`` config of ``model``.
    """

    model: torch.nn.Module
    task: str
    labels: list[str]
    voxel_spec: Any
    read_policy: dict
    metadata: dict
    sha256: str
    path: Path
    name: str
    network_config: dict = field(default_factory=dict)


def models_directory() -> Path:
    """The directory of the ``protsteer.models`` package (checkout: top-level ``models/``)."""
    return Path(str(importlib.resources.files("protsteer.models")))


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def save_weights(
    path: str | os.PathLike[str],
    *,
    network_config: dict,
    state_dict: dict[str, torch.Tensor],
    task: str,
    labels: list[str],
    voxel_spec: dict,
    read_policy: dict,
    metadata: dict,
) -> str:
    """Write a weights-only file atomically plus its ``<path>.sha256`` sidecar; return the sha256 (hex).

    Args:
        path: the ``.pt`` file to write (parent directories are created).
        network_config: ``module.config`` of a :mod:`protsteer.networks` network (JSON-serialisable).
        state_dict: ``module.state_dict()``; tensors are copied to CPU and made contiguous.
        task: task name (``"propensity"``, ``"cath"``).
        labels: class names in logit order.
        voxel_spec: the voxel spec as a plain dict (JSON-serialisable).
        read_policy: structure reading options as a plain dict (JSON-serialisable).
        metadata: provenance (JSON-serialisable).
    """
    for name, value in (
        ("network_config", network_config),
        ("voxel_spec", voxel_spec),
        ("read_policy", read_policy),
        ("metadata", metadata),
        ("labels", labels),
    ):
        try:
            json.dumps(value)
        except (TypeError, ValueError) as err:
            raise ValueError(f"save_weights: {name} must be JSON-serialisable ({err})") from err
    payload = {
        "format": WEIGHTS_FORMAT,
        "task": str(task),
        "labels": [str(label) for label in labels],
        "network": network_config,
        "voxel_spec": voxel_spec,
        "read_policy": read_policy,
        "metadata": metadata,
        "state_dict": {key: t.detach().to("cpu").contiguous().clone() for key, t in state_dict.items()},
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    digest = sha256_bytes(data)
    target = Path(path)
    atomic_write_bytes(target, data)
    atomic_write_text(_sidecar(target), f"{digest}  {target.name}\n")
    logger.info("wrote %s (sha256 %s, %d bytes)", target, digest, len(data))
    return digest


def register_weights(path: str | os.PathLike[str], description: str = "") -> dict:
    """Record ``path`` (a file written by :func:`save_weights`) in ``index.json`` of its directory.

    The entry is keyed by the file stem (the name users pass to ``--weights``) and holds the file name,
    sha256, size, task and description. Returns the entry.
    """
    target = Path(path)
    data = target.read_bytes()
    payload = _deserialise(data, target)
    entry = {
        "file": target.name,
        "sha256": sha256_bytes(data),
        "size_bytes": len(data),
        "task": payload["task"],
        "description": description,
    }
    index_path = target.parent / INDEX_NAME
    index = _read_index(index_path)
    index[target.stem] = entry
    atomic_write_text(index_path, json.dumps(dict(sorted(index.items())), indent=2) + "\n")
    return entry


def resolve_weights(name_or_path: str | os.PathLike[str]) -> tuple[Path, str, str]:
    """Find a weights file and its recorded sha256.

    ``name_or_path`` is either an existing file or a registered name (``propensity-v1``) looked up in the
    models directory. Returns ``(path, name, expected_sha256)``.
    """
    given = str(name_or_path)
    candidate = Path(given).expanduser()
    if candidate.is_file():
        path = candidate
    elif os.sep in given or "/" in given or given.endswith(WEIGHTS_SUFFIX):
        raise ProtsteerError("weights file not found", given)
    else:
        path = models_directory() / f"{given}{WEIGHTS_SUFFIX}"
        if not path.is_file():
            available = ", ".join(available_weights()) or "none installed"
            raise ProtsteerError(
                f"no weights named {given!r} (available: {available}); pass a file path instead"
            )
    name = path.name[: -len(WEIGHTS_SUFFIX)] if path.name.endswith(WEIGHTS_SUFFIX) else path.stem
    return path, name, _expected_sha256(path, name)


def distinct_weight_names(weights: list[LoadedWeights]) -> list[str]:
    """Short, distinct labels for several weights (table rows and folder names in a comparison).

    Each label is the weights name; where names collide (``runs/a/weights.pt`` and
    ``runs/b/weights.pt``), parent folder names are prepended (``a-weights``, ``b-weights``) until the
    labels differ. Raises :class:`ProtsteerError` when the same file is given twice.
    """
    paths = [w.path.resolve() for w in weights]
    if len(set(paths)) != len(paths):
        duplicate = next(p for p in paths if paths.count(p) > 1)
        raise ProtsteerError("--weights: the same weights are given twice", duplicate)
    labels = [w.name for w in weights]
    for depth in range(max(len(p.parents) for p in paths)):
        colliding = {label for label in labels if labels.count(label) > 1}
        if not colliding:
            break
        for index, path in enumerate(paths):
            if labels[index] in colliding and depth < len(path.parents) - 1:
                labels[index] = f"{path.parents[depth].name}-{labels[index]}"
    if len(set(labels)) != len(labels):
        labels = [f"{label}-{index + 1}" for index, label in enumerate(labels)]
    return labels


def available_weights() -> list[str]:
    """Names of the weights files in the models directory."""
    directory = models_directory()
    return sorted(p.name[: -len(WEIGHTS_SUFFIX)] for p in directory.glob(f"*{WEIGHTS_SUFFIX}"))


def read_weights_file(name_or_path: str | os.PathLike[str]) -> tuple[dict, Path, str, str]:
    """Verify and deserialise a weights file without building the network.

    Returns ``(payload, path, name, sha256)``; raises :class:`ProtsteerError` on a missing file, a sha256
    mismatch, a file that is not weights-only, or a wrong format.
    """
    path, name, expected = resolve_weights(name_or_path)
    data = path.read_bytes()
    actual = sha256_bytes(data)
    if actual != expected:
        raise ProtsteerError(
            f"sha256 mismatch: recorded {expected[:12]}..., file has {actual[:12]}..."
            " (corrupt or replaced file)",
            path,
        )
    return _deserialise(data, path), path, name, actual


def load_weights(name_or_path: str | os.PathLike[str], device: str | torch.device = "cpu") -> LoadedWeights:
    """Load verified weights and rebuild the network (eval mode, on ``device``).

    Args:
        name_or_path: a registered name (``propensity-v1``) or a path to a ``.pt`` file.
        device: where the model goes (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``).
    """
    from protsteer.networks import build_network
    from protsteer.voxel import VoxelSpec

    payload, path, name, digest = read_weights_file(name_or_path)
    try:
        model = build_network(payload["network"])
        model.load_state_dict(payload["state_dict"], strict=True)
    except (RuntimeError, KeyError, TypeError, ValueError) as err:
        raise ProtsteerError(f"weights do not match their network config: {_first_line(err)}", path) from err
    model.to(device)
    model.eval()
    voxel_spec = VoxelSpec.from_dict(payload["voxel_spec"])
    logger.info("loaded weights %s (%s, sha256 %s) on %s", name, path, digest[:12], device)
    return LoadedWeights(
        model=model,
        task=payload["task"],
        labels=list(payload["labels"]),
        voxel_spec=voxel_spec,
        read_policy=dict(payload["read_policy"]),
        metadata=dict(payload["metadata"]),
        sha256=digest,
        path=path,
        name=name,
        network_config=dict(payload["network"]),
    )


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _read_index(index_path: Path) -> dict:
    if not index_path.is_file():
        return {}
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ProtsteerError(f"unreadable weights index: {_first_line(err)}", index_path) from err
    if not isinstance(index, dict):
        raise ProtsteerError("weights index must be a JSON object", index_path)
    return index


def _expected_sha256(path: Path, name: str) -> str:
    """The recorded sha256: the directory's index.json entry for this file, else the sidecar."""
    entry = _read_index(path.parent / INDEX_NAME).get(name)
    if isinstance(entry, dict) and entry.get("file") == path.name and entry.get("sha256"):
        return str(entry["sha256"]).lower()
    sidecar = _sidecar(path)
    if sidecar.is_file():
        words = sidecar.read_text(encoding="utf-8").split()
        if words and len(words[0]) == 64:
            return words[0].lower()
        raise ProtsteerError("malformed sha256 sidecar (expected '<hex>  <file>')", sidecar)
    raise ProtsteerError(
        f"no recorded sha256 (neither {INDEX_NAME} nor {sidecar.name} next to it);"
        " refusing unverified weights",
        path,
    )


def _deserialise(data: bytes, path: Path) -> dict:
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        reason = _first_line(err)
        if reason.startswith("Weights only load failed"):  # torch goes on to advise unsafe unpickling
            reason = "it holds Python objects besides tensors and plain data, which protsteer never unpickles"
        raise ProtsteerError(f"not a weights-only protsteer file: {reason}", path) from err
    if not isinstance(payload, dict) or payload.get("format") != WEIGHTS_FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ProtsteerError(f"unsupported weights format {found!r} (expected {WEIGHTS_FORMAT!r})", path)
    missing = [key for key in _REQUIRED_KEYS if key not in payload]
    if missing:
        raise ProtsteerError(f"weights file lacks {', '.join(missing)}", path)
    return payload


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__
