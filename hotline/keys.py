"""The application's typed keys: what the app holds, for the app factory and the console's views.

In a module of their own so that views can name what they use without importing the app
factory (which imports the views).
"""

from __future__ import annotations

from aiohttp import web

from hotline.calls.callback_dial import CallbackDialer
from hotline.calls.controller import CallController
from hotline.calls.registry import FlowRegistry
from hotline.clock import WallClock
from hotline.config import Config
from hotline.desk.service import Desk
from hotline.events import EventBus
from hotline.incidents import IncidentService
from hotline.issues import IssueService
from hotline.media.engine import MediaEngine
from hotline.rota import Rota
from hotline.services import CalendarSetup
from hotline.sip.endpoint import SipEndpoint
from hotline.store import Store

__all__ = ["BUS", "CALENDAR", "CALLBACKS", "CALLS", "CLOCK", "CONFIG", "DESK", "FLOWS", "INCIDENTS",
           "ISSUES", "MEDIA", "ROTA", "SIP", "STORE"]

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
ISSUES = web.AppKey("issues", IssueService)
CALENDAR = web.AppKey("calendar", CalendarSetup)
ROTA = web.AppKey("rota", Rota)
SIP = web.AppKey("sip", SipEndpoint)
MEDIA = web.AppKey("media", MediaEngine)
DESK = web.AppKey("desk", Desk)
CLOCK = web.AppKey("clock", WallClock)
BUS = web.AppKey("bus", EventBus)
FLOWS = web.AppKey("flows", FlowRegistry)
CALLS = web.AppKey("calls", CallController)
INCIDENTS = web.AppKey("incidents", IncidentService)
CALLBACKS = web.AppKey("callbacks", CallbackDialer)
"""Call backs from the console (click-to-dial); present while the SIP endpoint runs."""
