"""The only place with SQL. One :class:`Store` per process, opened by the app.

Callers use the aggregate stores (``store.issues``, ``store.calls``,
``store.directory``, ``store.people``, ``store.rota``, ``store.accounts``, ``store.settings``, and the
desk's under ``store.desk``) and their records; none of them sees a cursor, so a
PostgreSQL backend can be added here alone. ``store.ping()`` is the health check.

Who owns which tables (writes them; others may read them in joins). The schema
itself is in ``migrations/``, applied by ``db``.

================  ==================================================================
module            tables
================  ==================================================================
db                ``schema_migrations``; the connection, transactions, migrations
records           no table: the records of the stores below (issues, calls, people…)
issues            ``issues``, ``issue_events`` (append-only), ``counters`` (issue
                  numbers); ``issues_fts`` is kept by triggers
calls             ``calls``; ``issues.call_ended_at`` when the call ends
directory         ``directory``, ``directory_numbers``
people            ``people``, ``posts``, ``categories``, ``post_assignments``
rota              ``rota_changes`` (overrides and swaps)
settings          ``site_settings`` (console settings replacing the configuration's)
accounts          ``accounts``, ``web_sessions``, ``console_audit``
desk.changes      ``desk_issue`` (SLA projection); the unit of work that also
                  appends to ``desk_dispatch_log``, ``desk_callbacks``, ``desk_outbox``
desk.dispatch     ``desk_leave``, ``desk_shifts``; reads ``desk_dispatch_log``
desk.callbacks    reads ``desk_callbacks`` and the callback queue
desk.scores       ``desk_scores``, ``desk_score_adjustments``
desk.outbox       ``desk_outbox`` (enqueue, lease, delivery state)
desk.kb           ``kb_articles``; ``kb_fts`` is kept by triggers
desk.progress     none: stale and at-risk queries, digests
desk.report       none: the service report's aggregates
incidents         ``incidents``; merges a linked call's issue into the parent
                  (``issues.merged_into``)
outbound          ``calls`` rows with ``direction = 'out'`` (``issue_id``,
                  ``placed_by``) and their entries in ``issue_events``
survey            ``survey_attempts``
queues            none: the console's work queues (indexes of 0006_queues)
synthetic         none of its own: fills every table above with a benchmark history
ops               none: figures for /healthz and /metrics
tokens            ``api_tokens``; appends to ``console_audit``
webhook_relay     ``api_webhook_cursor``; reads ``issue_events``, appends to ``desk_outbox``
backup            no table: online backup and restore of the whole file (``sqlite3``)
================  ==================================================================
"""

from __future__ import annotations

from pathlib import Path

from hotline.store.accounts import AccountStore
from hotline.store.calls import CallStore
from hotline.store.db import Database, StoreError
from hotline.store.desk import DeskStores
from hotline.store.directory import DirectoryStore
from hotline.store.incidents import IncidentStore
from hotline.store.issues import EventDraft, IssueStore, StaleIssue
from hotline.store.ops import OpsStore
from hotline.store.people import PeopleStore
from hotline.store.rota import RotaStore
from hotline.store.settings import SettingsStore
from hotline.store.tokens import TokenStore
from hotline.store.webhook_relay import WebhookRelayStore

__all__ = ["EventDraft", "StaleIssue", "Store", "StoreError"]


class Store:
    """The database and its aggregates."""

    def __init__(self, path: Path, *, synchronous: str = "full") -> None:
        self.db = Database(path, synchronous=synchronous)
        self.calls = CallStore(self.db)
        self.issues = IssueStore(self.db)
        self.directory = DirectoryStore(self.db)
        self.people = PeopleStore(self.db)
        self.rota = RotaStore(self.db)
        self.settings = SettingsStore(self.db)
        self.accounts = AccountStore(self.db)
        self.incidents = IncidentStore(self.db)
        self.desk = DeskStores(self.db)
        """The service desk's stores (``desk.changes``, ``desk.dispatch``, …)."""
        self.ops = OpsStore(self.db)
        """Figures for ``/healthz`` and ``/metrics`` (outbox, SLA states, schema version)."""
        self.tokens = TokenStore(self.db)
        """The JSON API's bearer tokens."""
        self.webhook_relay = WebhookRelayStore(self.db)
        """Issue events into the outbox for the API's webhooks."""

    async def open(self, *, migrate: bool = True) -> None:
        await self.db.open(migrate=migrate)

    async def close(self) -> None:
        await self.db.close()

    async def ping(self) -> None:
        """A round trip to the database (health checks); raises if it cannot answer."""
        await self.db.fetch_value("SELECT 1")

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
