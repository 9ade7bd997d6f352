"""Pages rendered from the Jinja templates in the reader's language (query ``lang``, then the cookie)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from agencybus.i18n import LANGS, Translator, pick_lang, translator
from agencybus.i18n import jinja as i18n_jinja
from consumers.steering.web.context import DashboardContext
from consumers.steering.web.evidence import evidence_text
from consumers.steering.web.messages import msg

HERE = Path(__file__).parent
LANG_COOKIE = "agencybus_lang"


def make_templates() -> Jinja2Templates:
    """The pages' templates with gettext, the label helpers and the dashboard's own globals."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    i18n_jinja.install(templates.env)
    templates.env.globals.update(msg=msg, evidence_text=evidence_text)
    return templates


def lang_of(request: Request) -> str:
    return pick_lang(request.query_params.get("lang"), request.cookies.get(LANG_COOKIE))


def tr_of(request: Request) -> Translator:
    return translator(lang_of(request))


Tr = Annotated[Translator, Depends(tr_of)]


def templates_of(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def render(request: Request, name: str, status_code: int = 200, **data: Any) -> HTMLResponse:
    """The template ``name`` with the helpers every page uses; remembers a ``?lang=`` choice."""
    ctx: DashboardContext = request.app.state.ctx
    lang = lang_of(request)
    names = ctx.names(lang)

    def commune_label(code: str) -> str:
        name = names.commune(code)
        return f"{code} {name}" if name != code else code

    base = {
        "tr": translator(lang),
        "lang": lang,
        "langs": LANGS,
        "other_lang": "en" if lang == "vi" else "vi",
        "path": request.url.path,
        "commune_label": commune_label,
    }
    response = templates_of(request).TemplateResponse(
        request, name, {**base, **data}, status_code=status_code
    )
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 86400,
            samesite="lax",
            httponly=True,
            secure=ctx.secure_cookies,
        )
    return response


__all__ = ["HERE", "LANG_COOKIE", "Tr", "lang_of", "make_templates", "render", "templates_of", "tr_of"]
