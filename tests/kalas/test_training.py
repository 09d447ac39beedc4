"""A training run (kalas/training.py, as scripts/train.py's arguments ask for it) on a handful of real photos of all
three kinds of data directory, in a temp dir."""
import csv
import json
import shutil
from pathlib import Path

import pytest
import torch

from handlers.archive import DEFAULT_CHECKPOINT, file_sha256
from handlers.decoding import decode_image
from handlers.images import to_tensor
from handlers.models import INPUT_SIZE, MEAN, STD, build_model, load_efficientnet_lite, load_fashion_model
from handlers.taxonomy import load_taxonomy
from kalas.dataset import is_validation, read_records
from kalas.provenance import portable_path
from kalas.trainer import Trainer
from kalas.training import train
from kalas.training_data import Examples, label_space, node_labels, read_examples, split_examples
from kalas.training_inputs import PhotoRows
from kalas.training_metrics import validate
from scripts.train import main, parse_args

pytestmark = pytest.mark.slow
REVIEW_COLUMNS = ["id", "category", "gender", "usage", "season", "colour"]


def copy_subset(source: Path, target: Path, per_side: int) -> Path:
    """`per_side` training and `per_side` validation rows of `source`, images copied, same labels.csv columns."""
    records = read_records(source)
    chosen = [r for r in records if not is_validation(r.id)][:per_side] + [r for r in records if is_validation(r.id)][:per_side]
    (target / "images").mkdir(parents=True)
    with (target / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["id", *records[0].labels])
        writer.writeheader()
        for r in chosen:
            shutil.copy(r.image, target / "images" / r.image.name)
            writer.writerow({"id": r.id, **r.labels})
    return target


def write_review_export(source: Path, target: Path) -> Path:
    """A review export as the API writes it: taxonomy labels, blanks where a person left a field alone."""
    rows = [("heels", "women", "casual", "summer", "red"), ("shirt", "men", "formal", "", "blue"), ("shoes", "", "", "", "")]
    records = read_records(source)[: len(rows)]
    (target / "images").mkdir(parents=True)
    with (target / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REVIEW_COLUMNS)
        for i, (r, labels) in enumerate(zip(records, rows)):
            shutil.copy(r.image, target / "images" / f"review-{i}.jpg")
            writer.writerow([f"review-{i}", *labels])
    return target


@pytest.fixture(scope="module")
def data(shared_data: Path, tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("data")
    return [
        copy_subset(shared_data / "fashion-products", root / "fashion-products", 12),
        copy_subset(shared_data / "clothing", root / "clothing", 6),
        write_review_export(shared_data / "clothing", root / "review"),
    ]


def run(data: list[Path], root: Path, name: str, *extra: str) -> dict:
    args = [*map(str, data), "--name", name, "--out", str(root / "checkpoints"), "--cache-dir", str(root / "cache"),
            "--state-dir", str(root / "state"), "--epochs", "2", "--batch-size", "8", "--no-progress", *extra]
    return train(parse_args(args))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("train")


def test_review_export_is_read_as_a_third_kind_with_group_labels(data: list[Path]) -> None:
    examples, kinds = read_examples(data, load_taxonomy())
    assert kinds == ["fashion-products", "clothing", "review"]
    review = torch.nonzero(examples.source == 2).flatten()
    leaves = load_taxonomy().leaves
    shoes = examples.category_mask[review[2]]
    assert {leaves[i] for i in torch.nonzero(shoes).flatten().tolist()} == set(load_taxonomy().leaves_under("shoes"))


def test_training_writes_a_loadable_checkpoint_with_provenance(data: list[Path], workdir: Path) -> None:
    provenance = run(data, workdir, "full")
    out = workdir / "checkpoints" / "full"
    assert {f.name for f in out.iterdir()} == {"heads.pt", "meta.json", "labels.json", "provenance.json"}
    assert sum(f.stat().st_size for f in out.iterdir()) < 10 * 2**20
    assert [(d["kind"], d["train"], d["validation"]) for d in provenance["data"]] == [
        ("fashion-products", 12, 12), ("clothing", 6, 6), ("review", *review_split(data[2]))]
    assert provenance["seed"] == 0 and provenance["command"].endswith("--no-progress")
    for name, digest in provenance["files"].items():
        assert file_sha256(out / name) == digest
    assert 0.0 <= provenance["validation"]["fashion-products"]["category"]["top1"] <= 1.0

    # The served path (decode → tensor → whole model) gives what training scored from the cache.
    model, meta = load_fashion_model(out)
    record = read_records(data[0])[0]
    with torch.no_grad():
        logits = model(to_tensor([decode_image(record.image.read_bytes(), min_side=INPUT_SIZE)], INPUT_SIZE, MEAN, STD))
    assert logits["category"].shape == (1, len(meta["categories"]))
    assert json.loads((out / "labels.json").read_text())["category"][0]["label"] == meta["categories"][0]


def review_split(directory: Path) -> tuple[int, int]:
    ids = [r.id for r in read_records(directory)]
    return sum(not is_validation(i) for i in ids), sum(is_validation(i) for i in ids)


def test_same_seed_gives_the_same_heads_and_resume_continues_to_the_same_result(data: list[Path], workdir: Path) -> None:
    full = torch.load(workdir / "checkpoints" / "full" / "heads.pt") if (workdir / "checkpoints" / "full").exists() else None
    if full is None:
        run(data, workdir, "full")
        full = torch.load(workdir / "checkpoints" / "full" / "heads.pt")
    again = run(data, workdir, "again")
    stopped = run(data, workdir, "resumed", "--stop-after", "1")
    assert stopped["stopped_after"] == 1 and not (workdir / "checkpoints" / "resumed").exists()
    resumed = run(data, workdir, "resumed", "--resume")
    assert [h["epoch"] for h in resumed["history"]] == [1, 2]
    for name in ("again", "resumed"):
        state = torch.load(workdir / "checkpoints" / name / "heads.pt")
        assert state.keys() == full.keys()
        assert all(torch.equal(state[k], full[k]) for k in full), name
    assert again["validation"] == resumed["validation"]


def test_fine_tuning_the_last_block_trains_and_stores_it(data: list[Path], workdir: Path) -> None:
    provenance = run(data, workdir, "tuned", "--tune-from", "15", "--epochs", "1")
    assert provenance["tune_from"] == 15
    model, meta = load_fashion_model(workdir / "checkpoints" / "tuned")
    stored = torch.load(workdir / "checkpoints" / "tuned" / "heads.pt")
    assert meta["tune_from"] == 15 and "backbone._blocks.15._project_conv.weight" in stored
    assert "backbone._blocks.14._project_conv.weight" not in stored
    assert not torch.equal(stored["backbone._blocks.15._project_conv.weight"], build_fresh_block15())


def test_augmented_views_and_the_instance_part_reach_the_checkpoint(data: list[Path], workdir: Path) -> None:
    provenance = run(data, workdir, "views", "--views", "1", "--epochs", "1", "--instance-dim", "8",
                     "--label-smoothing", "0.1")
    model, meta = load_fashion_model(workdir / "checkpoints" / "views")
    assert (meta["embedding_dim"], meta["instance_dim"]) == (256, 8) and model.heads.embedding.out_features == 248
    assert model.heads.instance_projection.abs().sum() > 0  # fitted on the training photos, not left at zero
    view_caches = [d for d in (workdir / "cache").iterdir() if d.name.startswith(data[0].name)]
    assert len(view_caches) == 2  # the photos as served, and one augmented view
    assert 0.0 <= provenance["validation"]["fashion-products"]["category"]["top1"] <= 1.0


def test_tuning_from_block_12_with_a_colour_head_caches_there_and_serves_colour_logits(data: list[Path], workdir: Path) -> None:
    provenance = run(data, workdir, "colour", "--tune-from", "12", "--epochs", "1", "--colour-head-weight", "0.5")
    out = workdir / "checkpoints" / "colour"
    model, meta = load_fashion_model(out)
    colours = [c.label for c in load_taxonomy().colours]
    assert meta["colours"] == colours and model.cache_block == 12
    stored = torch.load(out / "heads.pt")
    assert "backbone._blocks.12._project_conv.weight" in stored and "heads.colour.weight" in stored
    assert 0.0 <= provenance["validation"]["fashion-products"]["colour_head"]["top1"] <= 1.0
    assert "colour_head" not in provenance["validation"]["clothing"]  # no colour labels there
    record = read_records(data[0])[0]
    with torch.no_grad():
        outputs = model(to_tensor([decode_image(record.image.read_bytes(), min_side=INPUT_SIZE)], INPUT_SIZE, MEAN, STD))
    assert outputs["colour"].shape == (1, len(colours))


def build_fresh_block15() -> torch.Tensor:
    return load_efficientnet_lite().state_dict()["_blocks.15._project_conv.weight"]


def test_repeat_weighs_a_directory_up_and_a_wrong_name_is_refused(data: list[Path], workdir: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        parse_args([*map(str, data), "--name", "x", "--repeat", "shoes=2"])
    assert "--repeat shoes=2: expected NAME=K with NAME one of the data directories' names" in capsys.readouterr().err
    assert parse_args([*map(str, data), "--name", "x", "--repeat", "clothing=3"]).repeat == [1, 3, 1]
    if not (workdir / "checkpoints" / "full").exists():
        run(data, workdir, "full")
    run(data, workdir, "repeated", "--repeat", "clothing=3")
    full, repeated = (torch.load(workdir / "checkpoints" / n / "heads.pt") for n in ("full", "repeated"))
    # Same seed and epochs: only the clothing photos shown three times an epoch can make the heads differ.
    assert not torch.equal(full["heads.category.weight"], repeated["heads.category.weight"])


def test_resume_refuses_a_missing_or_different_run(data: list[Path], workdir: Path) -> None:
    with pytest.raises(SystemExit, match="no training state"):
        run(data, workdir, "never-started", "--resume")
    run(data, workdir, "short", "--stop-after", "1")
    with pytest.raises(SystemExit, match="was trained with"):
        run(data, workdir, "short", "--resume", "--seed", "1")


def test_photos_too_few_to_hold_any_out_are_named(shared_data: Path, tmp_path: Path, workdir: Path) -> None:
    """Four photos of each set, none of them on the validation side of the split: said, not a crash in the loader."""
    from tests.support.data_dirs import make_directory

    few = [make_directory(shared_data / name, tmp_path / name, 4) for name in ("fashion-products", "clothing")]
    with pytest.raises(SystemExit, match="8 labelled photos gave 8 to train on and 0 to validate on"):
        run(few, workdir, "few", "--tune-from", "0")


def test_a_directory_not_in_the_layout_is_named(tmp_path: Path, workdir: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a data directory"):
        main([str(tmp_path), "--name", "x", "--out", str(workdir / "out"), "--no-progress"])


def test_tuning_the_whole_network_trains_on_augmented_photos_and_stores_the_stem(data: list[Path], workdir: Path) -> None:
    provenance = run(data, workdir, "whole", "--tune-from", "0", "--epochs", "1", "--colour-head-weight", "0.5",
                     "--train-batch-norm", "--workers", "1")
    out = workdir / "checkpoints" / "whole"
    model, meta = load_fashion_model(out)
    stored = torch.load(out / "heads.pt")
    fresh = load_efficientnet_lite().state_dict()
    assert meta["tune_from"] == 0 and model.cache_block == 0
    assert not torch.equal(stored["backbone._conv_stem.weight"], fresh["_conv_stem.weight"])
    # Batch norms learned this data's statistics, and the unused ImageNet classifier stays out of the checkpoint.
    assert not torch.equal(stored["backbone._bn0.running_mean"], fresh["_bn0.running_mean"])
    assert not any(k.startswith("backbone._fc.") for k in stored)
    assert 0.0 <= provenance["validation"]["clothing"]["category"]["top1"] <= 1.0
    # Validation scored the photos as served: the saved model recomputes the same figure.
    again = validate_checkpoint(model, data)
    assert again["fashion-products"]["category"] == provenance["validation"]["fashion-products"]["category"]
    with pytest.raises(SystemExit, match="augments afresh"):
        run(data, workdir, "whole-views", "--tune-from", "0", "--views", "1")


def test_lite2_trains_at_its_own_size_and_its_archive_serves_a_photo_at_that_size(data: list[Path], workdir: Path,
                                                                                    tmp_path: Path) -> None:
    from handlers.archive import ATTRIBUTES
    from handlers.in_process import open_archive
    from handlers.models.efficientnet_lite import LITE2
    from scripts import build_archives

    provenance = run(data, workdir, "lite2", "--backbone", "efficientnet-lite2", "--epochs", "1")
    out = workdir / "checkpoints" / "lite2"
    model, meta = load_fashion_model(out)
    assert (meta["backbone"], meta["input_size"], meta["tune_from"]) == ("efficientnet-lite2", 260, 21)
    assert meta["backbone_sha256"] == file_sha256(LITE2.weights_path()) and provenance["tune_from"] == 21
    # Training scored features cached at 260 px: the saved model, shown the photos at its own size, agrees.
    again = validate_checkpoint(model, data)
    assert again["fashion-products"]["category"] == provenance["validation"]["fashion-products"]["category"]

    built = build_archives.main(["--checkpoint", str(out), "--output", str(tmp_path / "store")])
    assert len(built) == 2
    served = open_archive(tmp_path / "store", ATTRIBUTES)
    assert served.handler.preprocessing["image_size"] == 260
    record = read_records(data[0])[0]
    [(status, annotation)] = served.handle([record.image.read_bytes()])
    photo = to_tensor([decode_image(record.image.read_bytes(), min_side=260)], 260, MEAN, STD)
    with torch.no_grad():
        expected = meta["categories"][model(photo)["category"].argmax().item()]
    assert status == 200 and annotation["category"][0]["label"] == expected


def test_a_backbone_or_block_that_does_not_fit_is_refused_by_name(data: list[Path], capsys) -> None:
    with pytest.raises(SystemExit):
        parse_args([*map(str, data), "--name", "x", "--backbone", "efficientnet-lite2", "--tune-from", "12"])
    assert ("--tune-from 12: efficientnet-lite2 trains from block 0 (the whole network) or from 16 to 21 (the heads "
            "alone)") in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args([*map(str, data), "--name", "x", "--init", str(DEFAULT_CHECKPOINT), "--backbone", "efficientnet-lite2"])
    assert f"the --init checkpoint {DEFAULT_CHECKPOINT} was trained on efficientnet-lite0" in capsys.readouterr().err
    assert parse_args([*map(str, data), "--name", "x", "--init", str(DEFAULT_CHECKPOINT)]).backbone == "efficientnet-lite0"


def test_training_on_from_the_shipped_checkpoint_starts_from_its_network_and_keeps_it(
    data: list[Path], workdir: Path
) -> None:
    """The feedback loop on a CPU: the shipped model's heads trained on, on features of its own backbone."""
    start = DEFAULT_CHECKPOINT
    if not (workdir / "checkpoints" / "full").exists():  # leaves ImageNet's features in the cache
        run(data, workdir, "full")
    with pytest.raises(SystemExit, match="colours differ"):  # the start has a colour head, this run would not
        run(data, workdir, "on-mismatch", "--init", str(start))
    # Heads only, at a learning rate too small to move them: the result must be the start's network.
    provenance = run(data, workdir, "on", "--init", str(start), "--colour-head-weight", "0.5", "--epochs", "1",
                     "--lr", "1e-9")
    out = workdir / "checkpoints" / "on"
    model, meta = load_fashion_model(out)
    original, _ = load_fashion_model(start)
    stored, before = torch.load(out / "heads.pt"), torch.load(start / "heads.pt")
    assert provenance["tune_from"] == 16 and meta["tune_from"] == 0  # trained the heads, stores the whole network
    assert provenance["init"] == {
        "checkpoint": portable_path(start), "heads_sha256": file_sha256(start / "heads.pt"), "tune_from": 0}
    assert stored.keys() == before.keys()
    assert all(torch.equal(stored[k], before[k]) for k in before if k.startswith("backbone."))
    record = read_records(data[1])[0]
    photo = to_tensor([decode_image(record.image.read_bytes(), min_side=INPUT_SIZE)], INPUT_SIZE, MEAN, STD)
    with torch.no_grad():
        assert torch.allclose(model(photo)["category"], original(photo)["category"], atol=1e-3)
    # Training read features of the start's own backbone, not the ImageNet ones cached before: what it scored
    # from its cache is what the saved model scores on the photos.
    again = validate_checkpoint(model, data)
    for kind in ("fashion-products", "clothing"):
        assert again[kind]["category"] == provenance["validation"][kind]["category"]
        assert again[kind]["attributes"] == provenance["validation"][kind]["attributes"]


def test_a_group_the_checkpoint_lacks_gets_its_own_head_and_nothing_the_checkpoint_had_moves(
    data: list[Path], workdir: Path
) -> None:
    """How the pattern reached the shipped model: its head alone trained on a checkpoint without one."""
    start = workdir / "without-pattern"
    if not start.exists():
        shutil.copytree(DEFAULT_CHECKPOINT, start)
        meta = json.loads((start / "meta.json").read_text())
        meta["attributes"].pop("pattern")
        meta["texture_groups"] = []
        (start / "meta.json").write_text(json.dumps(meta))
        weights = torch.load(start / "heads.pt")
        torch.save({k: v for k, v in weights.items() if not k.startswith("heads.texture.")}, start / "heads.pt")
    provenance = run(data, workdir, "grafted", "--init", str(start), "--new-heads-only", "--colour-head-weight", "1.0",
                     "--epochs", "2")
    out = workdir / "checkpoints" / "grafted"
    stored, before = torch.load(out / "heads.pt"), torch.load(start / "heads.pt")
    added = set(stored) - set(before)
    assert added and all(k.startswith("heads.texture.pattern.") for k in added)
    assert all(torch.equal(stored[k], before[k]) for k in before)  # bit for bit: the embedding is the start's
    _, meta = load_fashion_model(out)
    assert meta["texture_groups"] == ["pattern"] and "pattern" in meta["attributes"]
    assert provenance["validation"]["fashion-products"]["attributes"]["pattern"]["count"] > 0
    with pytest.raises(SystemExit, match="already has a head for every attribute group"):
        run(data, workdir, "grafted-again", "--init", str(out), "--new-heads-only", "--colour-head-weight", "1.0")


def test_proxies_are_seeded_at_the_mean_embedding_of_their_rows() -> None:
    taxonomy = load_taxonomy()
    space = label_space(taxonomy)
    model = build_model(space["categories"], space["attributes"], embedding_dim=256, instance_dim=64).eval()
    args = parse_args(["data", "--name", "x"])
    trainer = Trainer(model, len(node_labels(taxonomy)), len(taxonomy.colours), args, steps=100)
    untouched = trainer.node_proxies.detach().clone()
    pooled = torch.randn(5, 2560)
    rows = Examples(records=[], source=torch.zeros(5, dtype=torch.long), category_mask=torch.zeros(5, 1, dtype=torch.bool),
                    category_node=torch.tensor([3, 3, 7, -1, -1]), attributes={},
                    colour=torch.tensor([-1, 0, 0, 0, -1]))
    trainer.seed_proxies(pooled, rows)
    with torch.no_grad():
        semantic = model.heads(pooled)["semantic"]
    normal = torch.nn.functional.normalize
    assert torch.allclose(trainer.node_proxies[3], normal(semantic[:2].sum(0), dim=0), atol=1e-6)
    assert torch.allclose(trainer.node_proxies[7], normal(semantic[2], dim=0), atol=1e-6)
    assert torch.allclose(trainer.colour_proxies[0], normal(semantic[1:4].sum(0), dim=0), atol=1e-6)
    others = [i for i in range(len(untouched)) if i not in (3, 7)]  # no rows: left as they were drawn
    assert torch.equal(trainer.node_proxies[others], untouched[others])


def validate_checkpoint(model, data: list[Path]) -> dict:
    taxonomy = load_taxonomy()
    examples, kinds = read_examples(data, taxonomy)
    _, val_index = split_examples(examples)
    with torch.no_grad():
        return validate(model, PhotoRows(examples.records, val_index, model.input_size, 0), examples, val_index, taxonomy, kinds,
                        [d.name for d in data])
