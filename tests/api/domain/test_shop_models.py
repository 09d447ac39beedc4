"""What a shop's own model reads (api/domain/shop_models.py): the joint vector when every product stored its photos'
signals, the bare embedding otherwise; and an annotation is answered from the same features, or not at all."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from api.domain.shop_models import EMBEDDING, JOINT, LoadedModel, examples_of, parents
from handlers.signals import joint
from kalas.shop_model import MIN_EXAMPLES, train

DIGEST = "the-serving-embedder"
SIGNALS = [3, 4]  # two heads' sizes: each photo's signals are one distribution per head


def catalogue(per_term: int = 3 * MIN_EXAMPLES, seed: int = 0) -> list[dict]:
    """Two categories whose photos lie near one of two directions; the signals of the first's photos are surer."""
    centres = np.random.default_rng(0).standard_normal((2, 16))  # the same two kinds of product at every seed
    rng = np.random.default_rng(seed)
    documents = []
    for term, centre in zip(("Herren-Hemden", "Damen-Kleider"), centres):
        for n in range(per_term):
            vector = centre + 0.3 * rng.standard_normal(16)
            heads = [rng.dirichlet(np.ones(size) * (5 if term.startswith("Herren") else 1)) for size in SIGNALS]
            documents.append({"_id": f"{term}-{n}", "categories": [term], "tags": [], "embedder": DIGEST,
                              "embeddings": [(vector / np.linalg.norm(vector)).tolist()],
                              "signals": [np.concatenate(heads).tolist()]})
    return documents


def test_products_with_signals_are_read_as_joint_vectors():
    documents = catalogue()
    examples, features = examples_of(documents, DIGEST)
    assert features == JOINT and examples.features.shape == (len(documents), 16 + sum(SIGNALS))
    expected = joint(np.array([d["embeddings"][0] for d in documents]), np.array([d["signals"][0] for d in documents]))
    np.testing.assert_allclose(examples.features, expected, atol=1e-6)
    assert examples.ids == [d["_id"] for d in documents]


@pytest.mark.parametrize("without", [None, []], ids=["signals-none", "signals-empty"])
def test_one_product_without_signals_makes_the_whole_shop_read_embeddings(without):
    documents = catalogue()
    documents[4]["signals"] = without  # an embedder without signals made its vectors
    del documents[7]["signals"]  # stored before signals were
    examples, features = examples_of(documents, DIGEST)
    assert features == EMBEDDING and examples.features.shape == (len(documents), 16)
    np.testing.assert_allclose(examples.features, [d["embeddings"][0] for d in documents], atol=1e-6)


def test_products_of_another_embedder_are_left_out_and_do_not_decide_the_features():
    documents = catalogue()
    documents[0] = {**documents[0], "embedder": "an-older-digest", "signals": None}
    examples, features = examples_of(documents, DIGEST)
    assert features == JOINT and len(examples.ids) == len(documents) - 1 and documents[0]["_id"] not in examples.ids


def test_a_joint_model_answers_from_an_annotations_embedding_and_signals_or_not_at_all():
    documents = catalogue()
    examples, features = examples_of(documents, DIGEST)
    model, _ = train(examples)
    loaded = LoadedModel(1, DIGEST, model, features)
    photo = catalogue(per_term=1, seed=1)[1]  # a new product of the second term, drawn like the catalogue's
    embedding, signals = photo["embeddings"][0], photo["signals"][0]
    answer = loaded.answer(embedding, signals, DIGEST)
    assert answer["version"] == 1 and answer["categories"][0]["name"] == "Damen-Kleider"
    [prediction] = model.predict(joint(np.array([embedding]), np.array([signals])))
    assert answer["categories"][0]["score"] == pytest.approx(prediction.categories[0][1], abs=1e-6)
    assert loaded.answer(embedding, None, DIGEST) is None  # a model server without signals: no shop terms
    assert loaded.answer(embedding, signals[:-1], DIGEST) is None  # signals of another model's heads
    assert loaded.answer(embedding, signals, "another-digest") is None
    assert loaded.answer(None, signals, DIGEST) is None


def test_an_embedding_model_answers_from_the_embedding_whatever_the_signals():
    documents = catalogue()
    for document in documents:
        del document["signals"]
    examples, features = examples_of(documents, DIGEST)
    loaded = LoadedModel(2, DIGEST, train(examples)[0], features)
    photo = catalogue(per_term=1, seed=1)[0]
    for signals in (None, photo["signals"][0]):
        answer = loaded.answer(photo["embeddings"][0], signals, DIGEST)
        assert answer["categories"][0]["name"] == "Herren-Hemden"


def test_the_api_reads_joint_vectors_without_importing_torch():
    # The API process never imports torch (the model server does): handlers/signals.py's `joint` is plain numpy.
    found = subprocess.run([sys.executable, "-c", "import sys, api.domain.shop_models; print('torch' in sys.modules)"],
                           capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "False"


def test_the_best_categorys_parents_in_the_shops_tree_are_scored_with_everything_under_them():
    scored = [("Herren > Oberteile > Hemden", 0.5), ("Herren > Oberteile > T-Shirts", 0.2),
              ("Herren > Oberteile", 0.05), ("Herren > Schuhe", 0.15), ("Herrenmode", 0.04), ("Damen > Blusen", 0.06)]
    assert parents(scored) == [{"name": "Herren > Oberteile", "score": 0.75}, {"name": "Herren", "score": 0.9}]
    assert parents([("Herren-Oberteile", 0.7), ("Damen-Oberteile", 0.3)]) == []  # names that are no path: none
    assert parents([]) == []
    # A joint model's answer carries them (a flat shop: none).
    documents = catalogue()
    examples, features = examples_of(documents, DIGEST)
    photo = catalogue(per_term=1, seed=1)[1]
    answer = LoadedModel(1, DIGEST, train(examples)[0], features).answer(photo["embeddings"][0],
                                                                          photo["signals"][0], DIGEST)
    assert answer["parents"] == []


def test_products_names_are_read_beside_their_photos_and_an_answer_says_whether_it_read_one():
    documents = catalogue(per_term=30)
    assert examples_of(documents, DIGEST)[0].titles is None  # no product has a name: the photos alone
    for n, document in enumerate(documents):
        document["title"] = f"{document['categories'][0].split('-')[0]} Modell {n % 5}"  # "Herren Modell 3"
    examples, features = examples_of(documents, DIGEST)
    assert examples.titles == [d["title"] for d in documents]
    loaded = LoadedModel(1, DIGEST, train(examples)[0], features)
    photo = catalogue(per_term=1, seed=1)[1]
    embedding, signals = photo["embeddings"][0], photo["signals"][0]
    alone = loaded.answer(embedding, signals, DIGEST)
    assert alone["named"] is False and loaded.answer(embedding, signals, DIGEST, "Zzz Qqq")["named"] is False
    named = loaded.answer(embedding, signals, DIGEST, "Damen Modell 2")
    assert named["named"] is True and named["categories"][0]["name"] == "Damen-Kleider"
    assert named["categories"] != alone["categories"]


def test_a_store_product_without_a_name_teaches_no_words():
    documents = catalogue(per_term=2)
    documents[0] |= {"title": "WooCommerce product 41", "source": {"integration": "i", "product_id": 41}}
    documents[1] |= {"title": "WooCommerce product 41", "source": {"integration": "i", "product_id": 7}}  # its name
    documents[2] |= {"title": "Damen Kleid Nova"}
    examples, _ = examples_of(documents, DIGEST)
    assert examples.titles[:3] == [None, "WooCommerce product 41", "Damen Kleid Nova"]
