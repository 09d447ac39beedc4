"""TorchServe as production configures it (config.production.properties: token authorization on, registration
only from the model store), on free loopback ports, with a second model version ready to be put into service.

Used by the model-version tests and by the load run (load_tests/), so both exercise the production settings.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from handlers.archive import ATTRIBUTES, build_archives
from kalas.stack.torchserve import Server, start

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_CONFIG = ROOT / "config.production.properties"
NEXT_VERSION = "1.1"


def build_model_store(home: Path, checkpoint: Path, next_version: str = NEXT_VERSION) -> tuple[Path, Path]:
    """Both archives at their default version, and `fashion-attributes-<next>.mar` beside them."""
    store = home / "model_store"
    build_archives(store, checkpoint_dir=checkpoint)
    staging = home / "next"
    build_archives(staging, checkpoint_dir=checkpoint, version=next_version)
    next_archive = store / f"{ATTRIBUTES}-{next_version}.mar"
    shutil.move(staging / f"{ATTRIBUTES}.mar", next_archive)
    shutil.rmtree(staging)
    return store, next_archive


def production_config(home: Path, model_store: Path) -> Path:
    """The production file with registration allowed from this model store (ports are replaced at start)."""
    text = re.sub(r"(?m)^allowed_urls=.*$", f"allowed_urls=file://{model_store}/.*", PRODUCTION_CONFIG.read_text())
    path = home / "torchserve-production.properties"
    path.write_text(text)
    return path


def start_production_torchserve(home: Path, model_store: Path) -> Server:
    """Started and ready; its key file is `<server.home>/key_file.json`."""
    return start(model_store, config=production_config(home, model_store), home=home / "torchserve")


def key_file(server: Server) -> Path:
    return Path(server.home) / "key_file.json"
