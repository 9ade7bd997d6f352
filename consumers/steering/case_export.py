"""The filtered case list as CSV, in the reader's language: labels, names and local times, no raw codes.

Spreadsheet programs open it as it is (UTF-8 with BOM); identifiers are masked because
exports travel. The case id stays the key a reader quotes back to the dashboard.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from agencybus.i18n import N_, Translator
from agencybus.masking import mask_token
from consumers.steering.store import SeenCase

COLUMNS = (
    N_("Case"),
    N_("Version"),
    N_("Status"),
    N_("Severity"),
    N_("Seller"),
    N_("Lead agency"),
    N_("Routed to"),
    N_("Commune/ward"),
    N_("Rules fired"),
    N_("Seller identifiers"),
    N_("Opened"),
    N_("Updated"),
)


def cases_csv(cases: Iterable[SeenCase], tr: Translator) -> str:
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([tr.gettext(c) for c in COLUMNS])
    for c in cases:
        writer.writerow(
            [
                c.case_id,
                c.version,
                tr.label("CaseStatus", c.status),
                tr.label("Severity", c.severity),
                c.seller_name or "",
                tr.agency(c.lead_agency) if c.lead_agency else "",
                "; ".join(tr.agency(a) for a in c.recipients),
                "; ".join(c.commune_codes),
                "; ".join(tr.rule_title(r) for r in c.rule_ids),
                "; ".join(mask_token(t) for t in c.seller_tokens),
                tr.datetime(c.opened_at) if c.opened_at else "",
                tr.datetime(c.updated_at) if c.updated_at else "",
            ]
        )
    return out.getvalue()


__all__ = ["COLUMNS", "cases_csv"]
