"""The JSON API: bearer tokens, the routes and their OpenAPI document, issue-event webhooks.

Integrators (the web form, the e-mail gateway, monitoring) reach the same services as the
console: every change goes through :class:`~hotline.issues.IssueService` and
:class:`~hotline.desk.service.Desk` with the token's person as the actor, so the audit trail,
SLA and outbox stay right. See :mod:`hotline.api.setup` for how a request is handled.
"""
