"""The demo gallery as the API shows it: the `demo` catalogue's index (built by scripts/demo_gallery.py from a
directory in the shared-data layout) with each item's title and photo read from that directory.

Its items are not products of any shop and never enter the database; their photos are served by
api/routes/demo.py under signed URLs like a shop's images.
"""
from __future__ import annotations

import time
from functools import cached_property
from pathlib import Path

from api.core.security import sign_image
from api.core.settings import Settings
from api.schemas import ImageOut, ProductOut
from kalas.dataset import Record, read_records

DEMO_IMAGE_PATH = "/api/v1/demo/images"


def demo_signing_id(item_id: str) -> str:
    # Signed under its own namespace, so a demo link can never be replayed as a link to a shop's image.
    return f"demo/{item_id}"


class DemoGallery:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    @cached_property
    def _records(self) -> dict[str, Record]:
        """Read once, on first use (7,700 rows): the app starts without the data directory if it has to."""
        try:
            return {record.id: record for record in read_records(self.data_dir)}
        except FileNotFoundError:
            return {}

    def image(self, item_id: str) -> Path | None:
        record = self._records.get(item_id)
        return record.image if record is not None else None

    def item_out(self, settings: Settings, item_id: str) -> ProductOut | None:
        record = self._records.get(item_id)
        if record is None:
            return None
        expires = (int(time.time()) // 3600 + 1) * 3600 + settings.image_url_ttl_s
        signature = sign_image(settings.secret_key, demo_signing_id(item_id), expires)
        # The data set's photos are all 224×224 product shots; the real size is read when the file is served.
        image = ImageOut(id=item_id, url=f"{DEMO_IMAGE_PATH}/{item_id}?expires={expires}&signature={signature}",
                         width=224, height=224)
        labels = {k: v for k, v in record.labels.items() if k in ("articleType", "baseColour", "gender", "usage") and v}
        return ProductOut(id=item_id, sku=None, title=record.labels.get("title") or item_id, url=None, metadata=labels,
                          images=[image], created=None, updated=None)
