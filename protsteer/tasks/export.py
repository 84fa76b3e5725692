"""Weights files from training runs: one run's checkpoint, or an ensemble of runs and weights files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from protsteer.errors import ProtsteerError
from protsteer.tasks.run_files import MetricsLog, load_checkpoint

if TYPE_CHECKING:
    import torch


def export_ensemble_weights(
    sources: Sequence[tuple[Path, Path | None] | str | Path],
    path: Path,
    metadata: dict | None = None,
    temperature: float = 1.0,
) -> str:
    """Write one weights file from one or several sources.

    A source is a ``(checkpoint, run_dir or None)`` pair of a training run, or an existing weights file (a
    registered name such as ``propensity-v3``, or a path). One source: its network as it is. Several: an
    :class:`protsteer.networks.EnsembleNetwork` of their networks (mean of the class probabilities), whose
    metadata lists every member's provenance under ``"members"``. The sources must agree on task, labels,
    voxel spec and read policy (the input and output the ensemble shares). ``temperature`` (several sources
    only) divides the ensemble's log mean probabilities (fit it on val: ``evaluate`` reports the best one);
    an ensemble among the sources contributes its members, not its temperature. Returns the sha256 (hex).
    """
    from protsteer.io.weights import save_weights

    members = [
        _export_member(*source) if isinstance(source, tuple) else _weights_member(source)
        for source in sources
    ]
    if not members:
        raise ProtsteerError("nothing to export: no checkpoint given")
    first = members[0]
    for member in members[1:]:
        for key in ("task", "labels", "voxel_spec", "read_policy"):
            if member[key] != first[key]:
                raise ProtsteerError(
                    f"cannot ensemble: its {key} differs from that of {first['source']}", member["source"]
                )
    state_dict: dict[str, torch.Tensor]
    if len(members) == 1 and temperature != 1.0:
        raise ProtsteerError("a temperature applies to an ensemble (several sources) only", first["source"])
    if len(members) == 1:
        network, state_dict, provenance = first["network"], first["state_dict"], first["provenance"]
    else:
        networks: list[dict[str, Any]] = []
        state_dict = {}
        for member in members:  # an ensemble among the sources contributes its members (no nesting)
            nested = member["network"]["arch"] == "ensemble"
            parts = member["network"]["members"] if nested else [member["network"]]
            for index, part in enumerate(parts):
                prefix = f"members.{index}." if nested else ""
                state_dict.update(
                    {
                        f"members.{len(networks)}.{key[len(prefix) :]}": tensor
                        for key, tensor in member["state_dict"].items()
                        if key.startswith(prefix)
                    }
                )
                networks.append(part)
        network = {
            "arch": "ensemble",
            "in_channels": first["network"]["in_channels"],
            "n_outputs": first["network"]["n_outputs"],
            "members": networks,
            "temperature": float(temperature),
        }
        provenance = {"members": [member["provenance"] for member in members]}
    return save_weights(
        path,
        network_config=network,
        state_dict=state_dict,
        task=first["task"],
        labels=first["labels"],
        voxel_spec=first["voxel_spec"],
        read_policy=first["read_policy"],
        metadata={**provenance, **(metadata or {})},
    )


def _export_member(checkpoint: Path, run_dir: Path | None) -> dict:
    """What a weights file needs from one run checkpoint: network, state dict, task, labels, voxel spec,
    read policy, and provenance (training description, step, val metrics of that step)."""
    state = load_checkpoint(checkpoint)
    describe = state.get("describe") or {}
    missing = [key for key in ("labels", "voxel_spec", "read_policy") if key not in describe]
    if missing or state.get("network") is None:
        raise ProtsteerError(f"checkpoint lacks {missing or ['network']} for a weights file", checkpoint)
    val_metrics = state.get("metrics")
    if val_metrics is None and run_dir is not None:
        rows = [row for row in MetricsLog(run_dir).rows() if row["step"] == state["step"]]
        val_metrics = rows[-1] if rows else None
    average = state.get("ema")
    provenance = {"training": describe, "step": state["step"], "val_metrics": val_metrics}
    if average:
        provenance["weight_average"] = {"decay": average["decay"], "updates": average["updates"]}
    return {
        "source": str(checkpoint),
        "network": state["network"],
        "state_dict": state["model"] if not average else average["model"],
        "task": state["task"],
        "labels": list(describe["labels"]),
        "voxel_spec": describe["voxel_spec"],
        "read_policy": describe["read_policy"],
        "provenance": provenance,
    }


def _weights_member(name_or_path: str | Path) -> dict:
    """The same as :func:`_export_member` for a verified weights file; its provenance is the file's
    metadata plus its name and sha256."""
    from protsteer.io.weights import read_weights_file

    payload, file_path, name, digest = read_weights_file(name_or_path)
    return {
        "source": str(file_path),
        "network": payload["network"],
        "state_dict": payload["state_dict"],
        "task": payload["task"],
        "labels": list(payload["labels"]),
        "voxel_spec": payload["voxel_spec"],
        "read_policy": payload["read_policy"],
        "provenance": {"weights": name, "sha256": digest, **payload["metadata"]},
    }
