"""The "Records" part of the console: the issue list, the record page and its forms.

``/issues`` lists (:mod:`.issues_list`), ``/issues/{id}`` shows one issue with its call and
history (:mod:`.issue_page`), ``POST /issues/{id}/{action}`` changes it through the desk
(:mod:`.issue_forms`); who may do what is :mod:`.issue_rules`. Voicemails are served behind
signed links at ``/voicemails/{call}.wav``.
"""

from __future__ import annotations

from aiohttp import web

from hotline.console.views import issue_dial, issue_forms, issue_page, issues_list
from hotline.console.views.issue_rules import ACTIONS

__all__ = ["add_routes"]


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/issues", issues_list.issue_list)
    router.add_get(r"/issues/{issue_id:\d{1,20}}", issue_page.issue_page)
    router.add_post(r"/issues/{issue_id:\d{1,20}}/{action:(" + "|".join(ACTIONS) + ")}",
                    issue_forms.issue_action)
    router.add_post(r"/issues/{issue_id:\d{1,20}}/dial", issue_dial.dial)
    router.add_get(r"/voicemails/{call_id:\d{1,20}}.wav", issue_page.voicemail)
