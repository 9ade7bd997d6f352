"""The catalogue in Jinja templates: ``_()``, ``pgettext()``, code labels and the Babel filters.

:func:`install` wires an environment once; each render passes ``tr`` (a :class:`Translator`) in
its context, so one environment serves every language at once. Templates write interface text
as ``{{ _('Open cases') }}`` (extracted by ``make i18n``), a code as ``{{ label('Severity', c.severity) }}``,
money as ``{{ amount|vnd }}`` and an instant as ``{{ at|dt }}`` (Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from agencybus.i18n import Translator


def _tr(context: Context) -> Translator:
    tr = context.get("tr")
    if not isinstance(tr, Translator):
        raise LookupError("template rendered without 'tr' (agencybus.i18n.Translator) in its context")
    return tr


@pass_context
def _gettext(context: Context, message: str) -> str:
    return _tr(context).catalog.gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return _tr(context).catalog.ngettext(singular, plural, n)


@pass_context
def _pgettext(context: Context, ctx: str, message: str) -> str:
    return _tr(context).pgettext(ctx, message)


@pass_context
def label(context: Context, enum: str, code: str | None) -> str:
    return _tr(context).label(enum, code)


@pass_context
def labels(context: Context, enum: str, codes: Iterable[str] | None) -> str:
    return _tr(context).labels(enum, codes)


@pass_context
def agency(context: Context, code: str | None) -> str:
    return _tr(context).agency(code)


@pass_context
def agencies(context: Context, codes: Iterable[str] | None) -> str:
    return _tr(context).agencies(codes)


@pass_context
def agency_full(context: Context, code: str | None) -> str:
    return _tr(context).agency_full(code)


@pass_context
def sharing(context: Context, level: str | None) -> str:
    return _tr(context).sharing(level)


@pass_context
def event_type(context: Context, key: str) -> str:
    return _tr(context).event_type(key)


@pass_context
def rule_title(context: Context, rule_id: str, fallback: str | None = None) -> str:
    return _tr(context).rule_title(rule_id, fallback)


@pass_context
def bank_branch(context: Context, code: str | None) -> str:
    return _tr(context).bank_branch(code)


@pass_context
def identifier(context: Context, token: str) -> str:
    return _tr(context).identifier(token)


@pass_context
def bank_name(context: Context, bin_or_wallet: str | None) -> str:
    return _tr(context).bank(bin_or_wallet)


@pass_context
def _vnd(context: Context, amount: float | None) -> str:
    return _tr(context).vnd(amount)


@pass_context
def _num(context: Context, n: float | None) -> str:
    return _tr(context).number(n)


@pass_context
def _dt(context: Context, value: datetime | None) -> str:
    return _tr(context).datetime(value)


@pass_context
def _dts(context: Context, value: datetime | None) -> str:
    return _tr(context).datetime(value, seconds=True)


@pass_context
def _d(context: Context, value: datetime | date | None) -> str:
    return _tr(context).date(value)


GLOBALS: dict[str, Any] = {
    "label": label,
    "labels": labels,
    "agency": agency,
    "agencies_of": agencies,
    "agency_full": agency_full,
    "sharing": sharing,
    "event_type": event_type,
    "rule_title": rule_title,
    "bank_branch": bank_branch,
    "bank_name": bank_name,
    "identifier": identifier,
}
FILTERS: dict[str, Any] = {"vnd": _vnd, "num": _num, "dt": _dt, "dts": _dts, "d": _d}


def install(env: Environment) -> Environment:
    """Add the i18n extension (new-style gettext: ``_('%(n)s cases', n=3)``), labels and filters."""
    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=_gettext, ngettext=_ngettext, newstyle=True, pgettext=_pgettext
    )
    env.globals.update(GLOBALS)
    env.filters.update(FILTERS)
    return env


__all__ = ["FILTERS", "GLOBALS", "install"]
