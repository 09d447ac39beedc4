"""Distillation: the soft-target loss, a teacher whose labels are not the run's refused, and a student trained with
a teacher's scores closer to them than one trained on the labels alone."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from kalas.distillation import distillation_loss, teacher_logits
from tests.kalas.test_training import data, run  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow


def test_the_loss_is_zero_at_the_teacher_and_pulls_a_student_towards_it() -> None:
    torch.manual_seed(0)
    teacher = {"category": torch.randn(4, 5), "attributes.gender": torch.randn(4, 3)}
    same = {"category": teacher["category"].clone(), "attributes": {"gender": teacher["attributes.gender"].clone()}}
    assert distillation_loss(same, teacher, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(4, 5, requires_grad=True)
    out = {"category": student, "attributes": {"gender": torch.zeros(4, 3)}}
    distillation_loss(out, teacher, 2.0).backward()
    stepped = student.detach() - 1.0 * student.grad  # one step down the gradient
    before = F.kl_div(F.log_softmax(torch.zeros(4, 5), 1), F.log_softmax(teacher["category"], 1), reduction="batchmean",
                      log_target=True)
    after = F.kl_div(F.log_softmax(stepped, 1), F.log_softmax(teacher["category"], 1), reduction="batchmean",
                     log_target=True)
    assert after < before


def test_a_student_learns_its_teachers_scores(data: list[Path], tmp_path: Path) -> None:  # noqa: F811
    teacher_dir = tmp_path / "checkpoints" / "teacher"
    run(data, tmp_path, "teacher", "--epochs", "3")
    plain = run(data, tmp_path, "plain", "--seed", "1")
    distilled = run(data, tmp_path, "distilled", "--seed", "1", "--teacher", str(teacher_dir), "--distill-weight", "5")
    heads = distilled["teacher"]["heads"]
    assert "category" in heads and all(h == "category" or h.startswith("attributes.") for h in heads)
    assert distilled["teacher"]["weight"] == 5.0 and distilled["teacher"]["temperature"] == 2.0
    assert "teacher" not in plain

    from handlers.models import load_fashion_model
    from handlers.taxonomy import load_taxonomy
    from kalas.training_data import label_space, read_examples

    examples, _ = read_examples(data, load_taxonomy())
    soft = teacher_logits(teacher_dir, examples, data, label_space(load_taxonomy()), [], root=tmp_path / "served",
                          progress=False)
    from kalas.served_outputs import served_outputs

    def gap(name: str) -> float:
        """KL of the student's category scores from the teacher's, over every photo."""
        logits = torch.cat([torch.from_numpy(served_outputs(
            [r for r, s in zip(examples.records, examples.source.tolist()) if s == source], directory,
            tmp_path / "checkpoints" / name, root=tmp_path / "served", progress=False)["category"])
            for source, directory in enumerate(data)])
        return F.kl_div(F.log_softmax(logits, 1), F.log_softmax(soft["category"], 1), reduction="batchmean",
                        log_target=True).item()

    assert load_fashion_model(tmp_path / "checkpoints" / "distilled")[0] is not None
    assert gap("distilled") < gap("plain")


def test_a_teacher_of_other_labels_is_refused(data: list[Path], tmp_path: Path) -> None:  # noqa: F811
    run(data, tmp_path, "teacher", "--epochs", "1")
    other = tmp_path / "other"
    shutil.copytree(tmp_path / "checkpoints" / "teacher", other)
    meta = json.loads((other / "meta.json").read_text())
    (other / "meta.json").write_text(json.dumps({**meta, "categories": list(reversed(meta["categories"]))}))
    with pytest.raises(SystemExit, match="other's categories are not this run's"):
        run(data, tmp_path, "student", "--teacher", str(other))
