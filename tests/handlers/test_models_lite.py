"""The default model: the packages' Lite0 and Lite2 weights load strictly and recognise real shoes; the FashionModel
contract, on either backbone."""
import json
from pathlib import Path

import pytest
import torch

from handlers.decoding import decode_image
from handlers.images import to_tensor
from handlers.models import (BACKBONES, INPUT_SIZE, LITE0, MEAN, STD, EfficientNetLite, build_model,
                             load_efficientnet_lite, load_fashion_model, save_fashion_model)
from kalas.dataset import read_records

# ImageNet classes that are footwear: clog, cowboy boot, Loafer, running shoe, sandal, shoe shop.
FOOTWEAR = {502, 514, 630, 770, 774, 788}
SHOE_TYPES = {"Casual Shoes", "Sports Shoes", "Formal Shoes", "Sandals", "Heels", "Flats"}


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite:
    return load_efficientnet_lite()


@pytest.mark.parametrize("name", list(BACKBONES))
def test_package_state_dict_loads_with_no_missing_or_unexpected_keys(name: str) -> None:
    spec = BACKBONES[name]
    state = torch.load(spec.weights_path(), map_location="cpu", weights_only=True)
    result = EfficientNetLite(spec).load_state_dict(state, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []
    blocks = {int(key.split(".")[1]) for key in state if key.startswith("_blocks.")}
    assert len(blocks) == spec.num_blocks  # the stages as the weights have them: Lite0 16 blocks, Lite2 21


@pytest.mark.parametrize("name", list(BACKBONES))
def test_imagenet_classifier_sees_footwear_in_real_shoe_photos(name: str, shared_data: Path) -> None:
    spec = BACKBONES[name]
    network = load_efficientnet_lite(spec)
    shoes = [r for r in read_records(shared_data / "fashion-products") if r.labels["articleType"] in SHOE_TYPES][:6]
    assert len(shoes) == 6
    batch = to_tensor([decode_image(r.image.read_bytes(), min_side=spec.input_size) for r in shoes],
                      spec.input_size, MEAN, STD)
    with torch.no_grad():
        top5 = network(batch).topk(5).indices.tolist()
    for record, classes in zip(shoes, top5):
        assert FOOTWEAR & set(classes), f"{name} {record.id} ({record.labels['articleType']}): top-5 {classes}"


@pytest.fixture(scope="module")
def fashion_model():
    torch.manual_seed(0)
    return build_model(["tshirt", "shirt", "dress"], {"gender": ["men", "women"], "season": ["summer", "winter"]}).eval()


def test_forward_returns_named_heads_with_a_normalised_embedding(fashion_model) -> None:
    with torch.no_grad():
        out = fashion_model(torch.randn(2, 3, INPUT_SIZE, INPUT_SIZE))
    assert out["category"].shape == (2, 3)
    assert {g: t.shape for g, t in out["attributes"].items()} == {"gender": (2, 2), "season": (2, 2)}
    assert out["embedding"].shape == (2, 256)
    assert torch.allclose(out["embedding"].norm(dim=1), torch.ones(2), atol=1e-5)


def test_checkpoint_round_trip_keeps_outputs_and_stays_small(fashion_model, tmp_path: Path) -> None:
    meta = {"categories": ["tshirt", "shirt", "dress"], "attributes": {"gender": ["men", "women"], "season": ["summer", "winter"]}, "embedding_dim": 256}
    files = save_fashion_model(fashion_model, meta, tmp_path)
    assert sum(f.stat().st_size for f in files) < 10 * 2**20
    loaded, loaded_meta = load_fashion_model(tmp_path)
    assert loaded_meta["categories"] == meta["categories"]
    images = torch.randn(2, 3, INPUT_SIZE, INPUT_SIZE)
    with torch.no_grad():
        a, b = fashion_model(images), loaded(images)
    assert torch.equal(a["category"], b["category"]) and torch.equal(a["embedding"], b["embedding"])


def test_checkpoint_with_wrong_keys_names_them(fashion_model, tmp_path: Path) -> None:
    meta = {"categories": ["tshirt", "shirt", "dress"], "attributes": {"gender": ["men", "women"], "season": ["summer", "winter"]}, "embedding_dim": 256}
    save_fashion_model(fashion_model, meta, tmp_path)
    state = torch.load(tmp_path / "heads.pt", weights_only=True)
    state["heads.colour.weight"] = state.pop("heads.category.weight")
    torch.save(state, tmp_path / "heads.pt")
    with pytest.raises(ValueError, match=r"missing keys \['heads.category.weight'\].*unexpected keys \['heads.colour.weight'\]"):
        load_fashion_model(tmp_path)


def test_instance_part_keeps_a_cropped_copy_next_to_its_original(lite0: EfficientNetLite, shared_data: Path,
                                                                  tmp_path: Path) -> None:
    """Photos of one class collapse in the semantic part; the fitted instance part tells them apart."""
    from scripts.evaluate_retrieval import cropped_copy

    torch.manual_seed(0)
    model = build_model(["tshirt", "shirt"], {"gender": ["men", "women"]}, embedding_dim=32, instance_dim=16).eval()
    with torch.no_grad():  # a semantic part that sees nothing: every photo embeds alike but for the instance part
        model.heads.embedding.weight.zero_()
        model.heads.embedding.bias.fill_(1.0)
    tees = [r for r in read_records(shared_data / "fashion-products") if r.labels["articleType"] == "Tshirts"][:24]
    originals = to_tensor([decode_image(r.image.read_bytes()) for r in tees], INPUT_SIZE, MEAN, STD)
    copies = to_tensor([decode_image(cropped_copy(r.image.read_bytes())) for r in tees[:6]], INPUT_SIZE, MEAN, STD)
    with torch.no_grad():
        pooled = model.pooled(model.backbone.stem_and_blocks(originals, until=14))
        model.heads.fit_instance_projection(pooled[:, :1280])
        gallery, queries = model(originals)["embedding"], model(copies)["embedding"]
    assert gallery.shape == (24, 32) and torch.allclose(gallery.norm(dim=1), torch.ones(24), atol=1e-5)
    assert (queries @ gallery.T).argmax(dim=1).tolist() == list(range(6))

    meta = {"categories": ["tshirt", "shirt"], "attributes": {"gender": ["men", "women"]}, "embedding_dim": 32,
            "instance_dim": 16, "instance_weight": 0.5}
    save_fashion_model(model, meta, tmp_path)
    loaded, _ = load_fashion_model(tmp_path)
    with torch.no_grad():
        assert torch.equal(loaded(copies)["embedding"], queries)


def test_a_lite2_model_sees_260_pixels_and_round_trips_through_its_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    categories, attributes = ["tshirt", "shirt"], {"gender": ["men", "women"], "pattern": ["solid", "striped"]}
    model = build_model(categories, attributes, texture_groups=("pattern",), backbone="efficientnet-lite2",
                        tune_from=0).eval()
    assert model.input_size == 260 and model.spec.texture_block == 19 and model.spec.earliest_tuned == 16
    images = torch.randn(2, 3, 260, 260)
    with torch.no_grad():
        out = model(images)
        texture = model.backbone.stem_and_blocks(images, until=19)
    assert texture.shape == (2, 208, 9, 9)  # the texture heads read the 208-channel stage's map, not Lite0's 192
    assert out["attributes"]["pattern"].shape == (2, 2) and out["embedding"].shape == (2, 256)

    save_fashion_model(model, {"categories": categories, "attributes": attributes, "embedding_dim": 256,
                               "texture_groups": ["pattern"]}, tmp_path)
    loaded, meta = load_fashion_model(tmp_path)
    assert (meta["backbone"], meta["input_size"], meta["tune_from"]) == ("efficientnet-lite2", 260, 0)
    assert loaded.spec.name == "efficientnet-lite2" and loaded.input_size == 260
    with torch.no_grad():
        again = loaded(images)
    assert torch.equal(out["category"], again["category"]) and torch.equal(out["embedding"], again["embedding"])


def test_a_checkpoint_from_before_lite2_is_lite0_at_224_and_an_unknown_backbone_is_named(fashion_model,
                                                                                       tmp_path: Path) -> None:
    meta = {"categories": ["tshirt", "shirt", "dress"], "attributes": {"gender": ["men", "women"], "season": ["summer", "winter"]}, "embedding_dim": 256}
    save_fashion_model(fashion_model, meta, tmp_path)
    written = json.loads((tmp_path / "meta.json").read_text())
    assert (written["backbone"], written["input_size"], written["tune_from"]) == (LITE0.name, 224, 16)
    for key in ("backbone", "input_size"):  # as the shipped checkpoint's meta.json was written
        written.pop(key)
    (tmp_path / "meta.json").write_text(json.dumps(written))
    loaded, _ = load_fashion_model(tmp_path)
    assert loaded.spec is LITE0 and loaded.input_size == INPUT_SIZE == 224

    (tmp_path / "meta.json").write_text(json.dumps({**written, "backbone": "efficientnet-lite9"}))
    with pytest.raises(ValueError, match="names the backbone 'efficientnet-lite9': one of efficientnet-lite0, "
                                         "efficientnet-lite2"):
        load_fashion_model(tmp_path)


@pytest.mark.parametrize(("backbone", "tune_from", "allowed"), [("efficientnet-lite0", 17, r"\[12, 16\]"),
                                                                ("efficientnet-lite2", 12, r"\[16, 21\]")])
def test_tuning_from_a_block_the_backbone_lacks_is_refused(backbone: str, tune_from: int, allowed: str) -> None:
    with pytest.raises(ValueError, match=f"tune_from must be 0 or lie in {allowed} for {backbone}, got {tune_from}"):
        build_model(["tshirt"], {"gender": ["men", "women"]}, backbone=backbone, tune_from=tune_from)
