"""The reference names every export shows (the case list's CSV is ``case_export``).

Names of agencies, provinces and communes come from the reference data, so a reorganisation
is a data change. The statutory yearly report is ``consumers.steering.statutory``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Names:
    """Display names from the reference data; a code with no entry shows as itself."""

    agencies: dict[str, str] = field(default_factory=dict)
    communes: dict[str, str] = field(default_factory=dict)
    districts: dict[str, str] = field(default_factory=dict)
    province: str = ""
    province_unit: str = "tỉnh"  # "thành phố" for a centrally-run city

    def agency(self, code: str) -> str:
        return self.agencies.get(code, code)

    def commune(self, code: str) -> str:
        return self.communes.get(code, code)


def load_names(province_code: str, lang: str = "vi") -> Names:
    """Agency, commune and province names from ``schemas.reference`` (codes only if it is unavailable)."""
    names = Names()
    try:
        from schemas import reference
    except ImportError:  # pragma: no cover - reference data is part of the distribution
        return names
    try:
        for code, a in reference.agencies().items():
            names.agencies[code] = str(getattr(a, "name_vi" if lang == "vi" else "name_en", code) or code)
    except Exception:
        pass
    try:
        for code, c in reference.communes(None).items():
            names.communes[code] = str(getattr(c, "name", code) or code)
    except Exception:
        pass
    try:
        for code, d in reference.legacy_districts().items():
            names.districts[code] = str(d.name)
    except Exception:
        pass
    try:
        p = reference.provinces().get(province_code)
        if p is not None:
            names.province = str(p.name_vi if lang == "vi" else p.name_en)
            names.province_unit = "thành phố" if p.kind == "city" else "tỉnh"
    except Exception:
        pass
    return names


__all__ = ["Names", "load_names"]
