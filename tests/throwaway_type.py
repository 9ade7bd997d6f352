"""A throwaway event type that exists only in the tests: its .avsc, model, descriptor and example.

``ProductRecallIssued`` (``product-recall``): a health department orders a seller to recall a
product; only SYT may publish it. ``temporary_recall`` registers it for the duration of a
block, its schema in a temporary directory: the proof that an event type is the .avsc, the
model, the descriptor and an example, and nothing else.
"""

from __future__ import annotations

import copy
import json
import random
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from schemas import catalog, summaries
from schemas import event_types as et
from schemas.models import EventType, ProductCategory, SellerEvent, SellerRef, new_header

SELLER = SellerRef(name="Cửa hàng Thực phẩm chức năng An Khang", phones=["0912 765 432"])


class ProductRecallIssued(SellerEvent):
    """A health department orders a seller to recall a product."""

    EVENT_TYPE: ClassVar[EventType]

    recall_number: str
    product_categories: list[ProductCategory] = Field(default_factory=list)
    description: str


def recall_summary(record: Mapping[str, Any]) -> summaries.Summary:
    return summaries.Summary(
        (
            summaries.Phrase(
                "Product recall {recall_number}: {description}",
                {"recall_number": record["recall_number"], "description": record["description"]},
            ),
        )
    )


def recall_simulated(
    header: dict[str, Any], seller: dict[str, Any], rng: random.Random
) -> ProductRecallIssued:
    return ProductRecallIssued.model_validate(
        {
            "header": header,
            "seller": seller,
            "recall_number": f"{rng.randrange(1, 999)}/QĐ-SYT",
            "product_categories": [rng.choice(["FUNCTIONAL_FOOD", "COSMETICS"])],
            "description": "Thu hồi sản phẩm không bảo đảm chất lượng",
        }
    )


def recall_example(base: datetime, fresh_ids: bool) -> ProductRecallIssued:
    event_id = uuid.uuid4() if fresh_ids else uuid.uuid5(uuid.NAMESPACE_URL, "product-recall")
    return ProductRecallIssued(
        header=new_header(
            "SYT", source_system="syt-test", province_code="38", occurred_at=base, event_id=event_id
        ),
        seller=SELLER,
        recall_number="15/QĐ-SYT",
        product_categories=[ProductCategory.FUNCTIONAL_FOOD],
        description="Thu hồi lô viên uống giảm cân chứa sibutramine",
    )


RECALL = et.EventType(
    "product-recall",
    "ProductRecallIssued",
    topic="product-recalls",
    description="Product recalls",
    agencies=("SYT",),
    summary=recall_summary,
    filters=frozenset({"product_categories"}),
    labels={"vi": "Thu hồi sản phẩm", "en": "Product recall"},
    key_fields=("recall_number", "product_categories"),
    model_class=ProductRecallIssued,
    example=recall_example,
    simulate=recall_simulated,
)
ProductRecallIssued.EVENT_TYPE = RECALL


def write_schema(root: Path) -> Path:
    """The record's .avsc: the shared header and seller (from the complaint's schema) and its own fields."""
    complaint = catalog.latest("ConsumerComplaintFiled").raw
    fields = {f["name"]: f for f in complaint["fields"]}
    schema = {
        "type": "record",
        "name": "ProductRecallIssued",
        "namespace": complaint["namespace"],
        "fields": [
            copy.deepcopy(fields["header"]),
            copy.deepcopy(fields["seller"]),
            {"name": "recall_number", "type": "string"},
            copy.deepcopy(fields["product_categories"]),
            {"name": "description", "type": "string"},
        ],
    }
    (root / "ProductRecallIssued").mkdir(parents=True)
    (root / "ProductRecallIssued" / "v1.avsc").write_text(json.dumps(schema, ensure_ascii=False))
    return root


@contextmanager
def temporary_recall(root: Path) -> Iterator[et.EventType]:
    """The event-type table with ProductRecallIssued added (its schema written under ``root``)."""
    with et.temporary(RECALL, schema_dir=write_schema(root / "avro")) as etype:
        yield etype
    assert "product-recall" not in et.BY_KEY and "ProductRecallIssued" not in catalog.record_names()
