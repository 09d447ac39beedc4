"""Shop models on simulated shops: how well a shop's own categories and tags are learned from its catalogue.

    python -m scripts.bench_shop_model DATA_DIR [--json PATH] [--checkpoint checkpoints/fashion]

Reads any directory in the shared-data layout whose columns the taxonomy maps (kalas/dataset.py,
handlers/taxonomy.yaml) and simulates shops from it:
- `de-categories`: each product's category is its kind × whom it is for, named in German: subCategory × gender
  in the fashion-products layout ("Herren-Oberteile"), label × kids in the clothing one ("Kinder-Hosen", a
  second-hand shop of consumer photos); every pair with at least MIN_TERM_PRODUCTS products (the shop's own, finer
  vocabulary);
- `pattern-tags`: each product whose title names its pattern carries that word as its tag (the taxonomy's
  title rule, `annotate(row).attributes["pattern"]`); the other products are not in this shop.
Every photo's served outputs (the embedding and the heads' logits the handlers answer from) come from the
checkpoint, cached under var/cache/served (kalas/served_outputs.py). A shop model reads each photo's joint vector,
as the service builds it from the stored embedding and signals (handlers/signals.py). Each shop's products split
80/20 by id hash (kalas/shop_model.py `is_held_out`): the model learns from the 80 and is scored on the 20. Per
shop the JSON has `products`, `category_top1`, `tag_micro_f1`, `train_seconds` (one whole training as the service
runs it: learn, score the held-out products, calibrate, learn again on all), the same figures for the vote alone
and the head alone, `unseen`: the held-out products whose photos the served model never saw in its own training
(kalas/dataset.py's validation split), and `embedding_alone`: the held-out figures of a model reading the bare
embedding (what shops whose products were stored before signals get). `cold_start.<n>.category_top1`:
`de-categories` learned from n products per term (`embedding_alone` beside). `serving`: milliseconds per photo to
answer the shop's terms from an embedding and its signals (one photo at a time, the joint vector included), and
the training time of a 10,000-product shop, and of one whose products also carry a store's 200 tags
(`train_seconds_10000_products_200_tags`). `named` (de-categories): the same figures with each product's name
(the data's `title`) read beside its photo, as a store product's is (kalas/shop_heads.py), `named_without_gender_words`
with the names' gender words taken out (what the name says beyond "Men"), `cold_start.<n>.named`, and the serving
and training costs with names. pattern-tags' products are not given their names: its tags are words of them.
`--candidates` adds `candidates.<name>`: other inputs and heads for
`de-categories`, scored on two halves of the held-out 20 (`a`, `b`, by another hash: one to choose on, one to
confirm; the photos of the 80 are no validation set, the served model trained on them) and on all of it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from handlers.signals import JOINT_WEIGHT, joint, signals
from handlers.taxonomy import load_taxonomy
from kalas.dataset import Record, is_validation, read_records
from kalas.served_outputs import served_outputs
from kalas.shop_model import Examples, fit, is_held_out, train
from kalas.shop_scoring import calibrate, named_figures, score

MIN_TERM_PRODUCTS = 20
COLD_START = (5, 10, 20, 50)
SCALE_PRODUCTS = 10_000
MANY_TAGS, MANY_TAGS_MIN = 200, 5  # a store's tags: 200 of them, each on at least 5 products (learned)
# The German shop's words: its own names, not the taxonomy's (a real shop's categories are its own).
GERMAN_GENDER = {"Men": "Herren", "Women": "Damen", "Unisex": "Unisex", "Boys": "Jungen", "Girls": "Mädchen"}
GERMAN_SUBCATEGORY = {
    "Topwear": "Oberteile", "Bottomwear": "Hosen & Röcke", "Shoes": "Schuhe", "Sandal": "Sandalen",
    "Flip Flops": "Zehentrenner", "Bags": "Taschen", "Watches": "Uhren", "Eyewear": "Brillen",
    "Innerwear": "Unterwäsche", "Wallets": "Geldbörsen", "Belts": "Gürtel", "Socks": "Socken", "Headwear": "Mützen & Hüte",
    "Ties": "Krawatten", "Fragrance": "Düfte", "Accessories": "Accessoires", "Dress": "Kleider", "Mufflers": "Schals",
    "Scarves": "Tücher", "Cufflinks": "Manschettenknöpfe", "Gloves": "Handschuhe", "Jewellery": "Schmuck",
}


GENDER_WORDS = re.compile(r"\b(men|mens|men's|women|womens|women's|boys?|girls?|unisex|kids|ladies)\b", re.IGNORECASE)


# A second-hand shop of consumer photos (the clothing layout): its kinds, and "Kinder-" for children's.
GERMAN_CLOTHING = {
    "T-Shirt": "T-Shirts", "Longsleeve": "Langarmshirts", "Pants": "Hosen", "Shoes": "Schuhe", "Shirt": "Hemden",
    "Dress": "Kleider", "Shorts": "Shorts", "Outwear": "Jacken & Mäntel", "Hat": "Hüte & Mützen", "Skirt": "Röcke",
    "Polo": "Poloshirts", "Undershirt": "Unterhemden", "Blazer": "Blazer", "Hoodie": "Hoodies", "Body": "Bodys",
    "Top": "Tops", "Blouse": "Blusen",
}


def german_category(row: dict) -> str | None:
    """The product's category in the German shop: its kind and whom it is for, as the layout says them
    (fashion-products: subCategory × gender, "Herren-Oberteile"; clothing: label × kids, "Kinder-Hosen");
    None for a product the shop does not sort (an unnamed kind, clothing's "Other")."""
    if "subCategory" in row:
        sub, gender = row.get("subCategory"), row.get("gender")
        if sub not in GERMAN_SUBCATEGORY or gender not in GERMAN_GENDER:
            return None
        return f"{GERMAN_GENDER[gender]}-{GERMAN_SUBCATEGORY[sub]}"
    kind = GERMAN_CLOTHING.get((row.get("label") or "").strip())
    if kind is None:
        return None
    return f"Kinder-{kind}" if (row.get("kids") or "").strip().lower() == "true" else kind


def simulated_shops(records: list[Record]) -> dict[str, list[tuple[int, str | None, list[str]]]]:
    """Per shop: (record row, category, tags) of its products."""
    mapping = load_taxonomy().detect(records[0].labels.keys()) if records else None
    categories = [german_category(r.labels) for r in records]
    counts = Counter(c for c in categories if c)
    shops: dict[str, list] = {
        "de-categories": [(row, c, []) for row, c in enumerate(categories) if c and counts[c] >= MIN_TERM_PRODUCTS]}
    if not shops["de-categories"]:
        print(f"no category of the layout's kinds has {MIN_TERM_PRODUCTS} products (fashion-products: subCategory × "
              "gender; clothing: label × kids): the de-categories shop is left out", file=sys.stderr)
    patterns = [mapping.annotate(r.labels).attributes.get("pattern") if mapping else None for r in records]
    if any(patterns):
        shops["pattern-tags"] = [(row, None, [p]) for row, p in enumerate(patterns) if p]
    else:
        print("no product's title names a pattern the taxonomy knows: the pattern-tags shop is left out",
              file=sys.stderr)
    return {name: products for name, products in shops.items() if products}


def examples_of(records: list[Record], features: np.ndarray, products: list[tuple[int, str | None, list[str]]],
                names=None) -> Examples:
    """The shop's examples; `names`: a function of a product's title giving the name its model reads (None: none)."""
    rows = np.array([row for row, _, _ in products])
    titles = None if names is None else [names(records[row].labels.get("title") or "") for row in rows]
    return Examples([records[row].id for row in rows], features[rows], [c for _, c, _ in products],
                    [t for _, _, t in products], titles)


def held_out_figures(examples: Examples, settings: dict | None = None) -> tuple[dict, dict]:
    """(figures on every held-out product, on those the served model never trained on) for a model learned on the
    rest of `examples` and calibrated on the held-out ones; where the examples have names, of the held-out products
    whose names it reads, read with them (the pool's weights cross-fitted, as a training reports them)."""
    held = np.array([is_held_out(i) for i in examples.ids])
    model = fit(examples.subset(np.flatnonzero(~held)), *_terms(examples), settings)
    scored = examples.subset(np.flatnonzero(held))
    model.category_temperature, model.tag_temperature = calibrate(model, scored)
    unseen = scored.subset(np.array([i for i, pid in enumerate(scored.ids) if is_validation(pid)], dtype=int))
    if model.titles is None:
        return _headline(score(model, scored)), _headline(score(model, unseen))
    return tuple(_headline(named_figures(model, part)[1]) for part in (scored, unseen))


def _terms(examples: Examples) -> tuple[list[str], list[str]]:
    return (sorted({c for c in examples.categories if c is not None}),
            sorted({t for tags in examples.tags for t in tags}))


def _headline(figures: dict) -> dict:
    return {k: figures.get(k) for k in ("products", "category_top1", "category_ece", "tag_micro_f1")
            if figures.get(k) is not None}


def cold_start(examples: Examples, per_term: int, seed: int = 0) -> dict:
    """Learned from `per_term` products of each category (drawn from the 80), scored on the whole held-out 20."""
    held = np.array([is_held_out(i) for i in examples.ids])
    by_term: dict[str, list[int]] = {}
    for row in np.flatnonzero(~held):
        by_term.setdefault(examples.categories[row], []).append(int(row))
    rng = random.Random(seed)
    chosen = [row for rows in by_term.values() for row in rng.sample(rows, min(per_term, len(rows)))]
    model = fit(examples.subset(np.array(chosen)), *_terms(examples))
    scored = examples.subset(np.flatnonzero(held))
    figures = score(model, scored) if model.titles is None else named_figures(model, scored)[1]
    return {"category_top1": figures.get("category_top1"), "tag_micro_f1": figures.get("tag_micro_f1"),
            "products": len(chosen)}


def serving_ms(examples: Examples, embeddings: np.ndarray, signal_rows: np.ndarray, photos: int = 500) -> float:
    """Per photo, as the service answers one: its joint vector from its embedding and signals, then the model
    (with the product's name, where the examples have names)."""
    model, _ = train(examples)
    titles = examples.titles or [None] * photos
    model.probabilities(examples.features[:1], titles[:1])
    start = time.perf_counter()
    for row in range(photos):
        model.predict(joint(embeddings[row:row + 1], signal_rows[row:row + 1]), titles[row:row + 1])
    return round((time.perf_counter() - start) / photos * 1e3, 3)


def scale_train_seconds(examples: Examples, products: int = SCALE_PRODUCTS, seed: int = 0, tags: int = 0) -> float:
    """One training of a shop of `products` products: the shop's own products, and copies of them with a
    little noise on the embedding (new ids) until it has that many. `tags`: each product also carries 0–3 of that
    many tags, drawn by a Zipf law (a few common, a long tail, as a store's tags are; seeded), every one of them on
    at least MANY_TAGS_MIN products: what a shop's tags cost its training."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(examples.ids), products - len(examples.ids))
    noisy = examples.features[rows] + rng.normal(0, 0.02, (len(rows), examples.features.shape[1])).astype(np.float32)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    product_tags = examples.tags + [examples.tags[r] for r in rows]
    if tags:
        popularity = 1.0 / np.arange(1, tags + 1)
        drawn = [rng.choice(tags, size=rng.integers(0, 4), p=popularity / popularity.sum()) for _ in product_tags]
        drawn = [list(d) + ([row % tags] if row < tags * MANY_TAGS_MIN else []) for row, d in enumerate(drawn)]
        product_tags = [sorted({f"Tag {t}" for t in d}) for d in drawn]
    grown = Examples(examples.ids + [f"copy-{i}" for i in range(len(rows))],
                     np.concatenate([examples.features, noisy]), examples.categories + [examples.categories[r] for r in rows],
                     product_tags,
                     None if examples.titles is None else examples.titles + [examples.titles[r] for r in rows])
    return train(grown)[1]["train_seconds"]


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def candidate_figures(examples: Examples, pooled: np.ndarray) -> dict:
    """Held-out top-1 (halves `a`, `b`, `all`) and fit seconds of other inputs and heads for one shop: the backbone's
    pooled features (z-scored on the shop's 80 %, whole or by part), the joint vector beside a PCA of them fitted on
    the 80 %, and a shrunk linear discriminant over the joint vector. `pooled`: [N, 3136] rows of `examples`."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    held = np.array([is_held_out(i) for i in examples.ids])
    half = np.array([hashlib.sha256(f"half:{i}".encode()).digest()[0] < 128 for i in examples.ids])
    parts = {"a": held & half, "b": held & ~half, "all": held}
    train_rows = ~held

    def z(x: np.ndarray) -> np.ndarray:
        return (x - x[train_rows].mean(0)) / (x[train_rows].std(0) + 1e-6)

    def shop_model(features: np.ndarray, settings: dict | None = None) -> dict:
        on = Examples(examples.ids, np.ascontiguousarray(features, dtype=np.float32), examples.categories,
                      examples.tags)
        start = time.perf_counter()
        model = fit(on.subset(np.flatnonzero(train_rows)), *_terms(on), settings)
        seconds = time.perf_counter() - start
        return {**{name: score(model, on.subset(np.flatnonzero(rows)))["category_top1"]
                   for name, rows in parts.items()}, "fit_seconds": round(seconds, 2), "dim": features.shape[1]}

    zp = z(pooled)
    centred = zp - zp[train_rows].mean(0)
    components = np.linalg.svd(centred[train_rows], full_matrices=False)[2][:256]
    out = {"joint (shipped: head + 1/4 vote)": shop_model(examples.features),
           "pooled, z-scored (head)": shop_model(_unit(zp) * 4, {"knn_weight": 0.0}),
           "pooled average part (head)": shop_model(_unit(z(pooled[:, :1280])), {"knn_weight": 0.0}),
           "pooled max part (head)": shop_model(_unit(z(pooled[:, 1280:2560])) * 4, {"knn_weight": 0.0}),
           "pooled texture part (head)": shop_model(_unit(z(pooled[:, 2560:])), {"knn_weight": 0.0})}
    for weight in (0.5, 1.0):
        both = _unit(np.concatenate([examples.features, weight * _unit(centred @ components.T)], axis=1)) * 2
        out[f"joint + {weight} x PCA-256 of pooled (head + 1/4 vote)"] = shop_model(both)
    labels = np.array([c or "" for c in examples.categories])
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=0.1)
    start = time.perf_counter()
    lda.fit(z(examples.features)[train_rows], labels[train_rows])
    seconds = time.perf_counter() - start
    predicted = lda.predict(z(examples.features))
    out["joint, z-scored (LDA, shrinkage 0.1)"] = {
        **{name: round(float((predicted[rows] == labels[rows]).mean()), 4) for name, rows in parts.items()},
        "fit_seconds": round(seconds, 2), "dim": examples.features.shape[1]}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--checkpoint", type=Path, default=Path("checkpoints/fashion"))
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--no-scale", action="store_true", help="skip the 10,000-product training")
    parser.add_argument("--candidates", action="store_true",
                        help="also score other inputs and heads on de-categories (the backbone's pooled features)")
    args = parser.parse_args(argv)

    records = read_records(args.data_dir)
    outputs = served_outputs(records, args.data_dir, args.checkpoint)
    embeddings, signal_rows = outputs["embedding"], signals(outputs)
    features = joint(embeddings, signal_rows)
    result: dict = {"data": str(args.data_dir), "feature": "joint", "joint_weight": JOINT_WEIGHT,
                    "dim": int(features.shape[1]), "shops": {}}
    simulated = simulated_shops(records)
    shops = {name: examples_of(records, features, products) for name, products in simulated.items()}
    bare = {name: examples_of(records, embeddings, products) for name, products in simulated.items()}
    for name, examples in shops.items():
        model, report = train(examples)
        held = report["held_out"] or {}
        figures, unseen = held_out_figures(examples)
        shop = {"products": report["products"], "categories": len(model.categories), "tags": len(model.tags),
                "category_top1": held.get("category_top1"), "tag_micro_f1": held.get("tag_micro_f1"),
                "category_ece": held.get("category_ece"), "train_seconds": report["train_seconds"],
                "held_out_products": held.get("products"), "unseen": unseen,
                "vote_alone": held_out_figures(examples, {"knn_weight": 1.0})[0],
                "head_alone": held_out_figures(examples, {"knn_weight": 0.0})[0]}
        alone, alone_unseen = held_out_figures(bare[name])
        shop["embedding_alone"] = {**alone, "unseen": alone_unseen}
        result["shops"][name] = shop
        print(f"{name}: {json.dumps(shop)}", flush=True)
    if "de-categories" in shops:
        products = simulated["de-categories"]
        shop = result["shops"]["de-categories"]
        titled = "title" in records[0].labels  # the clothing layout's products have no names
        named = examples_of(records, features, products, names=str) if titled else None
        if named is not None:
            figures, unseen = held_out_figures(named)
            shop["named"] = {**figures, "unseen": unseen, "train_seconds": train(named)[1]["train_seconds"]}
            stripped = held_out_figures(examples_of(
                records, features, products, names=lambda title: " ".join(GENDER_WORDS.sub(" ", title).split())))
            shop["named_without_gender_words"] = {**stripped[0], "unseen": stripped[1]}
            print(f"de-categories, named: {json.dumps({k: shop[k] for k in ('named', 'named_without_gender_words')})}",
                  flush=True)
        result["cold_start"] = {str(n): {**cold_start(shops["de-categories"], n),
                                         "embedding_alone": cold_start(bare["de-categories"], n)["category_top1"],
                                         **({"named": cold_start(named, n)["category_top1"]} if named is not None else {})}
                                for n in COLD_START}
        print(f"cold start: {json.dumps(result['cold_start'])}", flush=True)
        biggest = shops["de-categories"]
        result["serving"] = {"ms_per_photo": serving_ms(biggest, embeddings, signal_rows),
                             "catalogue_products": len(biggest.ids)}
        if named is not None:
            result["serving"]["ms_per_photo_named"] = serving_ms(named, embeddings, signal_rows)
        if not args.no_scale:
            result["serving"]["train_seconds_10000_products"] = scale_train_seconds(biggest)
            result["serving"][f"train_seconds_10000_products_{MANY_TAGS}_tags"] = scale_train_seconds(
                biggest, tags=MANY_TAGS)
            if named is not None:
                result["serving"]["train_seconds_10000_products_named"] = scale_train_seconds(named)
        print(f"serving: {json.dumps(result['serving'])}", flush=True)
    if args.candidates and "de-categories" in shops:
        rows = np.array([row for row, _, _ in simulated["de-categories"]])
        result["candidates"] = candidate_figures(shops["de-categories"], outputs["pooled"][rows])
        print(f"candidates: {json.dumps(result['candidates'])}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
