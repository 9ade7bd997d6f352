"""Messages the dashboard's handlers name by key (flash, error pages, login), marked for the catalogue.

A handler passes ``flash="action_sent"``; the template shows ``msg(flash)`` in the reader's
language. The texts are msgids of the ``agencybus`` catalogue (agencybus/i18n).
"""

from __future__ import annotations

from jinja2 import pass_context
from jinja2.runtime import Context

from agencybus.i18n import N_, Translator

MESSAGES = {
    "login_failed": N_("Wrong user name or password."),
    "login_throttled": N_("Too many failed logins for this user or address. Try again in %(n)s minutes."),
    "login_csrf": N_("The login form expired or did not come from this site. Please log in again."),
    "forbidden": N_("Access denied"),
    "forbidden_text": N_("This case is not routed to your agency."),
    "report_forbidden_text": N_(
        "Your agency prepares only its own report; the compiled report is prepared by Sở Công Thương."
    ),
    "not_found": N_("Not found"),
    "action_sent": N_("Action sent; history updated."),
    "action_pending": N_("Action sent; the history will update shortly."),
}


@pass_context
def msg(context: Context, key: str, **values: object) -> str:
    """The message ``key`` in the reader's language (``values`` fill its ``%(name)s`` slots)."""
    tr = context["tr"]
    assert isinstance(tr, Translator)
    return tr.gettext(MESSAGES[key], **values) if values else tr.gettext(MESSAGES[key])


__all__ = ["MESSAGES", "msg"]
