"""MMFashion-compatible models: checkpoints written in mmcv's runner format load strictly, wrong keys are named."""
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from handlers.models.mmfashion import (
    MMFashionSpec,
    build_mmfashion_model,
    load_mmfashion_checkpoint,
    save_mmfashion_checkpoint,
)

pytestmark = pytest.mark.slow  # ~100 MB checkpoint files written and read several times

# Real backbones, small pooling layers: the key names are MMFashion's, the file stays ~100 MB instead of 1.6 GB.
RESNET = MMFashionSpec(arch="resnet50", pool_hidden=64, pool_out=64, attributes=26, categories=50, embedding=256, ids=40)


@pytest.fixture(scope="module")
def resnet_file(tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    torch.manual_seed(0)
    model = build_mmfashion_model(RESNET).eval()
    path = tmp_path_factory.mktemp("mmfashion") / "epoch_50.pth"
    save_mmfashion_checkpoint(model, path, meta={"epoch": 50, "mmcv_version": "0.2.10"})
    return path, model


def test_runner_file_has_mmcv_layout_and_mmfashion_key_names(resnet_file) -> None:
    checkpoint = torch.load(resnet_file[0], weights_only=False)
    assert set(checkpoint) == {"meta", "state_dict", "optimizer"}
    keys = set(checkpoint["state_dict"])
    for key in ("backbone.conv1.weight", "backbone.layer4.2.bn3.running_var", "backbone.layer2.0.downsample.0.weight",
                "global_pool.global_layers.0.weight", "global_pool.global_layers.3.bias", "attr_predictor.linear_attr.weight",
                "cate_predictor.linear_cate.bias", "embed_extractor.embed_linear.weight", "embed_extractor.bn.running_mean",
                "embed_extractor.id_linear.weight"):
        assert key in keys
    assert not any(k.startswith(("backbone.fc", "backbone.features")) for k in keys)


def test_resnet_checkpoint_loads_strictly_with_sizes_read_from_it(resnet_file) -> None:
    path, original = resnet_file
    model, spec = load_mmfashion_checkpoint(path)
    assert spec == RESNET
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = original(images), model(images)
    assert set(b) == {"category", "attributes", "embedding"}
    assert b["category"].shape == (2, 50) and b["attributes"].shape == (2, 26) and b["embedding"].shape == (2, 256)
    assert torch.equal(a["attributes"], b["attributes"]) and torch.equal(a["embedding"], b["embedding"])
    assert torch.allclose(b["embedding"].norm(dim=1), torch.ones(2), atol=1e-5)


def test_data_parallel_prefix_is_accepted(resnet_file, tmp_path: Path) -> None:
    state = torch.load(resnet_file[0], weights_only=False)["state_dict"]
    torch.save({"meta": {}, "state_dict": {f"module.{k}": v for k, v in state.items()}, "optimizer": {}}, tmp_path / "dp.pth")
    assert load_mmfashion_checkpoint(tmp_path / "dp.pth")[1] == RESNET


def test_wrong_keys_fail_with_a_message_naming_them(resnet_file, tmp_path: Path) -> None:
    state = torch.load(resnet_file[0], weights_only=False)["state_dict"]
    state["attr_predictor.linear.weight"] = state.pop("attr_predictor.linear_attr.bias")
    state["backbone.fc.weight"] = torch.zeros(1)
    torch.save({"meta": {}, "state_dict": state, "optimizer": {}}, tmp_path / "bad.pth")
    with pytest.raises(ValueError) as error:
        load_mmfashion_checkpoint(tmp_path / "bad.pth", spec=RESNET)
    message = str(error.value)
    assert "missing keys ['attr_predictor.linear_attr.bias']" in message
    assert "unexpected keys ['attr_predictor.linear.weight', 'backbone.fc.weight']" in message


def test_wrong_shapes_and_foreign_files_are_refused(resnet_file, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="size mismatch for attr_predictor.linear_attr.weight"):
        load_mmfashion_checkpoint(resnet_file[0], spec=replace(RESNET, attributes=1000))
    torch.save({"state_dict": {"_conv_stem.weight": torch.zeros(1)}}, tmp_path / "lite.pth")
    with pytest.raises(ValueError, match="not an MMFashion VGG-16 or ResNet-50 checkpoint"):
        load_mmfashion_checkpoint(tmp_path / "lite.pth")
    state = torch.load(resnet_file[0], weights_only=False)["state_dict"]
    del state["global_pool.global_layers.3.weight"]
    torch.save(state, tmp_path / "nopool.pth")
    with pytest.raises(ValueError, match=r"missing keys \['global_pool.global_layers.3.weight'\]"):
        load_mmfashion_checkpoint(tmp_path / "nopool.pth")


def test_full_size_vgg16_in_shop_retriever_round_trip(tmp_path: Path) -> None:
    """MMFashion's in-shop retrieval config at its real shapes (25088→4096→4096 pooling, 463 attributes, 7982 ids)."""
    torch.manual_seed(0)
    model = build_mmfashion_model(MMFashionSpec()).eval()
    save_mmfashion_checkpoint(model, tmp_path / "vgg16_retriever.pth", meta={"epoch": 100})
    assert (tmp_path / "vgg16_retriever.pth").stat().st_size > 450e6
    loaded, spec = load_mmfashion_checkpoint(tmp_path / "vgg16_retriever.pth")
    assert spec == MMFashionSpec()
    assert "backbone.features.28.weight" in loaded.state_dict()
    images = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(images)["embedding"], loaded(images)["embedding"])
