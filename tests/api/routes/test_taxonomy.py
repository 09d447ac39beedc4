"""GET /taxonomy: the labels a review may name, exactly the taxonomy file's, for the console's pickers."""
from __future__ import annotations

from handlers.taxonomy import load_taxonomy
from tests.api.conftest import create_shop


def test_taxonomy_lists_the_labels_reviews_accept(client):
    shop = create_shop(client)
    answer = client.get("/api/v1/taxonomy", headers=shop.session)
    assert answer.status_code == 200, answer.text
    body, taxonomy = answer.json(), load_taxonomy()
    assert [c["label"] for c in body["categories"] if c["leaf"]] == taxonomy.leaves
    assert {g: [t["label"] for t in terms] for g, terms in body["attributes"].items()} == {
        g: [t.label for t in terms] for g, terms in taxonomy.attributes.items()}
    navy = next(c for c in body["colours"] if c["label"] == "navy")
    assert navy == {"label": "navy", "name": "Navy Blue", "hex": "#1F2A44"}


def test_taxonomy_needs_credentials(client):
    refused = client.get("/api/v1/taxonomy")
    assert refused.status_code == 401 and refused.json()["error"]["message"]
