"""The handlers, in a real TorchServe and in-process: batches run as one tensor, bad requests fail alone.

Each awkward upload gets either a clear 4xx for its own request or a correct answer; the good requests of the
same batch are still answered, and the worker survives (same pid, still READY).
"""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from handlers.archive import ATTRIBUTES, EMBEDDER
from handlers.decoding import decode_image
from handlers.in_process import ServedModel
from tests.support import images as make
from tests.support.annotations import assert_same_annotation

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> list[Path]:
    clothing = sorted((shared_data / "clothing" / "images").glob("*.jpg"))[:2]
    products = sorted((shared_data / "fashion-products" / "images").glob("*.jpg"))[:2]
    return clothing + products


def refused(photo: Path) -> dict[str, tuple[bytes, int, str]]:
    """Uploads that must be refused: name -> (bytes, status, words the message must contain)."""
    return {
        "not an image": (make.not_an_image(), 400, "not an image"),
        "truncated jpeg": (make.truncated_jpeg(photo), 400, "truncated"),
        "20000x20000 png bomb": (make.png_bomb(20000), 413, "too many pixels"),
        "empty body": (b"", 400, "empty"),
    }


def awkward_but_fine() -> dict[str, bytes]:
    return {
        "cmyk": make.cmyk_jpeg(),
        "rgba": make.rgba_png(),
        "greyscale": make.greyscale_jpeg(),
        "16-bit": make.grey16_png(),
        "palette": make.palette_png_with_transparency(),
        "exif": make.exif_rotated_jpeg(),
    }


def test_in_process_batch_runs_good_images_as_one_tensor(served_models: dict[str, ServedModel], photos: list[Path]):
    served = served_models[ATTRIBUTES]
    inputs = [photos[0].read_bytes(), make.png_bomb(), make.cmyk_jpeg(), make.not_an_image(), photos[1].read_bytes()]
    shapes = []
    hook = served.handler.model.register_forward_hook(lambda module, args, output: shapes.append(tuple(args[0].shape)))
    try:
        answers = served.handle(inputs)
    finally:
        hook.remove()
    assert shapes == [(3, 3, 224, 224)]  # the three decodable images, once, as one tensor
    assert [status for status, _ in answers] == [200, 413, 200, 400, 200]
    assert "too many pixels" in answers[1][1]["error"]
    assert answers[0][1]["category"] and answers[4][1]["colours"]


def test_embedder_answers_unit_vectors_and_refuses_bad_input(served_models: dict[str, ServedModel], photos: list[Path]):
    answers = served_models[EMBEDDER].handle([photos[0].read_bytes(), make.not_an_image()])
    (status, body), (bad_status, bad_body) = answers
    assert status == 200 and body["dim"] == len(body["embedding"]) == 256
    assert abs(sum(x * x for x in body["embedding"]) - 1.0) < 1e-5
    assert bad_status == 400 and "not an image" in bad_body["error"]


def test_the_warm_up_photo_goes_the_whole_way_through_each_handler(served_models: dict[str, ServedModel]):
    # The warm-up (before a worker reports ready) must run what a shop's photo runs, not be refused at decoding.
    (attributes,) = served_models[ATTRIBUTES].handler.warm_up()
    assert attributes["category"] and attributes["colours"] and "error" not in attributes
    assert attributes["colours"][0]["name"] in {"Blue", "Navy"}  # the dark blue block, not the light background
    (embedding,) = served_models[EMBEDDER].handler.warm_up()
    assert embedding["dim"] == len(embedding["embedding"]) == 256


def test_both_handlers_answer_the_heads_probabilities_as_signals(served_models: dict[str, ServedModel],
                                                                  photos: list[Path]):
    """Beside its answer, each handler answers the photo's signals (handlers/signals.py): one probability
    distribution per head (category, each attribute group, colour), from the batch's own outputs."""
    import numpy as np

    from handlers.signals import signals

    attributes = served_models[ATTRIBUTES]
    labels = attributes.handler.labels
    sizes = [len(labels["category"]), *(len(values) for values in labels["attributes"].values()), len(labels["colours"])]
    data = [photo.read_bytes() for photo in photos]
    batch = attributes.handler.preprocess([{"body": photo} for photo in data])
    _, outputs = attributes.handler.inference(batch)
    expected = signals(outputs)
    annotated = attributes.handle(data + [make.not_an_image()])
    embedded = served_models[EMBEDDER].handle(data)
    assert "signals" not in annotated[-1][1]  # a refused photo has none
    for row, ((_, annotation), (_, embedding)) in enumerate(zip(annotated, embedded)):
        for answer in (annotation, embedding):
            found = np.asarray(answer["signals"])
            assert len(found) == sum(sizes) == 122
            heads = np.split(found, np.cumsum(sizes)[:-1])
            assert all(abs(head.sum() - 1.0) < 1e-5 and (head >= 0).all() for head in heads)
            np.testing.assert_allclose(found, expected[row], atol=1e-5)
        # The category head's part, uncalibrated (T = 1), ranks the categories as the calibrated answer does.
        best = int(np.argmax(heads[0]))
        assert labels["category"][best]["label"] == annotation["category"][0]["label"]


def _workers(torchserve, model: str) -> list[tuple[int, str]]:
    """(pid, status) of each of the model's workers."""
    (description,) = httpx.get(f"{torchserve.management_url}/models/{model}", timeout=10).json()
    return sorted((worker["pid"], worker["status"]) for worker in description["workers"])


def _batches_served(torchserve) -> int:
    """How many batches the attributes workers have received (one log line per batch)."""
    log = Path(torchserve.home) / "logs" / "model_log.log"
    return sum(1 for line in log.read_text().splitlines() if "fashion-attributes" in line and "Backend received" in line)


def test_a_burst_mixing_bad_and_good_uploads_is_answered_request_by_request(torchserve, served_models, photos):
    bad = refused(photos[0])
    fine = awkward_but_fine()
    good = {f"photo {p.name}": p.read_bytes() for p in photos}
    requests = [(name, data) for name, (data, _, _) in bad.items()] + list(fine.items()) + list(good.items())
    requests += list(good.items())  # twice, so that several batches carry real photos
    workers_before, batches_before = _workers(torchserve, ATTRIBUTES), _batches_served(torchserve)

    def post(item: tuple[str, bytes]) -> tuple[str, httpx.Response]:
        name, data = item
        url = f"{torchserve.inference_url}/predictions/{ATTRIBUTES}"
        return name, httpx.post(url, content=data, headers={"Content-Type": "application/octet-stream"}, timeout=60)

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        responses = list(pool.map(post, requests))

    for name, response in responses:
        if name in bad:
            _, status, words = bad[name]
            assert response.status_code == status, (name, response.text)
            assert words in response.json()["error"], name
        else:
            assert response.status_code == 200, (name, response.text)
            answer = response.json()
            assert answer["category"] and answer["colours"] and answer["model"]["name"] == ATTRIBUTES, name
            if name in good:  # the served answer is the in-process answer for the same bytes
                [(status, local)] = served_models[ATTRIBUTES].handle([good[name]])
                assert_same_annotation(answer, local)
    batches = _batches_served(torchserve) - batches_before
    assert 0 < batches < len(requests)  # concurrent requests were batched
    # No worker died on the bad uploads: the same processes, all ready.
    workers_after = _workers(torchserve, ATTRIBUTES)
    assert workers_after == workers_before and {status for _, status in workers_after} == {"READY"}


def test_exif_rotated_photo_is_annotated_upright(torchserve, served_models, photos):
    rotated = make.exif_rotated_photo(photos[0])
    upright = io.BytesIO()
    decode_image(rotated).save(upright, "PNG")  # the same pixels, upright, with no orientation tag
    response = httpx.post(f"{torchserve.inference_url}/predictions/{ATTRIBUTES}", content=rotated, timeout=60)
    assert response.status_code == 200
    [(status, local)] = served_models[ATTRIBUTES].handle([upright.getvalue()])
    assert status == 200
    assert_same_annotation(response.json(), local)
    assert Image.open(io.BytesIO(rotated)).size[::-1] == Image.open(upright).size


def test_the_embedder_serves_the_in_process_embedding(torchserve, served_models, photos):
    data = photos[2].read_bytes()
    response = httpx.post(f"{torchserve.inference_url}/predictions/{EMBEDDER}", content=data, timeout=60)
    assert response.status_code == 200
    [(_, local)] = served_models[EMBEDDER].handle([data])
    served = response.json()
    assert served["dim"] == local["dim"]
    assert max(abs(a - b) for a, b in zip(served["embedding"], local["embedding"])) < 1e-5


def test_a_multipart_upload_is_read_and_a_json_body_is_refused_clearly(torchserve, photos):
    url = f"{torchserve.inference_url}/predictions/{ATTRIBUTES}"
    multipart = httpx.post(url, files={"file": ("photo.jpg", photos[0].read_bytes(), "image/jpeg")}, timeout=60)
    assert multipart.status_code == 200 and multipart.json()["category"]
    as_json = httpx.post(url, json={"image": "https://example.com/a.jpg"}, timeout=60)
    assert as_json.status_code == 400
    assert "not an image" in as_json.json()["error"] and "raw image bytes" in as_json.json()["error"]


def test_a_colour_head_naming_another_vocabulary_is_refused_at_start() -> None:
    from handlers.attributes_handler import _colour_order
    from handlers.taxonomy import load_taxonomy

    colours = [{"label": c.label, "name": c.name} for c in load_taxonomy().colours]
    order = _colour_order(list(reversed(colours)))
    assert [colours[::-1][i]["name"] for i in order] == [c["name"] for c in colours]
    with pytest.raises(ValueError, match="retrain the model"):
        _colour_order(colours[:-1])
    assert _colour_order(None) is None


def test_scores_are_the_calibrated_softmax_and_groups_sum_their_categories(served_models: dict[str, ServedModel],
                                                                           photos: list[Path]):
    """A score is softmax(logits / T) with the head's fitted temperature for the photo's kind
    (checkpoints/fashion/calibration.json), the category's top then read on its top curve as the calibration
    computes it in numpy (kalas/top_curve.py `top_curved`); a group's score is the probability of all its
    categories together; the policy table of that kind travels with the answer."""
    import json

    import numpy as np

    from handlers.archive import CALIBRATION_FILE, DEFAULT_CHECKPOINT
    from handlers.images import photo_kind
    from handlers.taxonomy import load_taxonomy
    from kalas.calibration import softmax
    from kalas.top_curve import top_curved

    served = served_models[ATTRIBUTES]
    batch = served.handler.preprocess([{"body": photos[0].read_bytes()}])
    calibration = json.loads((DEFAULT_CHECKPOINT / CALIBRATION_FILE).read_text())["photo_kinds"][photo_kind(batch.images[0])]
    _, outputs = served.handler.inference(batch)
    curve = calibration["top_curve"]["category"]
    probabilities = top_curved(softmax(outputs["category"][:1].numpy().astype(np.float64),
                                       calibration["temperatures"]["category"]), curve["x"], curve["y"])[0]
    [(status, answer)] = served.handle([photos[0].read_bytes()])
    assert status == 200
    labels = [c["label"] for c in served.handler.labels["category"]]
    for scored in answer["category"]:
        assert scored["score"] == pytest.approx(float(probabilities[labels.index(scored["label"])]), abs=1e-5)
    taxonomy = load_taxonomy()
    best = answer["category"][0]["label"]
    assert [g["label"] for g in answer["groups"]] == taxonomy.ancestors(best)[1:]  # nearest first, to the department
    for group in answer["groups"]:
        rows = [labels.index(leaf) for leaf in taxonomy.leaves_under(group["label"])]
        assert group["score"] == pytest.approx(float(probabilities[rows].sum()), abs=1e-5)
        assert group["score"] >= answer["category"][0]["score"] - 1e-6
    assert answer["policy"] == calibration["policy"]


def test_a_gpu_given_to_a_worker_without_cuda_serves_on_the_cpu_and_says_so(model_store: Path, photos: list[Path],
                                                                            served_models, caplog):
    """TorchServe gives a worker `gpu_id` on a machine with GPUs; the handler runs its network there (the GPU
    machine's check, scripts/device_check.py). Where this torch has no CUDA, the worker still serves, on the CPU."""
    import torch

    from handlers.in_process import open_archive

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: scripts/device_check.py compares the GPU's answers with the CPU's")
    with caplog.at_level("WARNING", logger="handlers.base_handler"):
        given = open_archive(model_store, ATTRIBUTES, gpu_id=0)
    assert "TorchServe gave this worker GPU 0, but this torch has no CUDA device: serving on the CPU" in caplog.text
    assert given.handler.device == torch.device("cpu") == served_models[ATTRIBUTES].handler.device
    image = photos[0].read_bytes()
    [(status, answer)] = given.handle([image])
    [(_, expected)] = served_models[ATTRIBUTES].handle([image])
    assert status == 200
    assert_same_annotation(answer, expected)
