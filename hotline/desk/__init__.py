"""The service desk: dispatch, SLA, progress, callback, scoring, notifications, KB, reports.

A library of async services over the store; the console and the IVR call the
:class:`~hotline.desk.service.Desk` facade, and nothing here knows HTTP or SIP.

==============  ==============================================================
module          idea
==============  ==============================================================
settings        typed settings with documented defaults (SLA table, points)
timeline        an issue's history (status, owner, responses) from its events
sla             response/resolution clocks on the business calendar or 24×7
availability    who is away when (leave, shifts, inactive), as log reasons
dispatch        A role, else least-loaded B; dispatch log; coverage
oncall          the on-call rota in the desk: urgent issues after hours, rota gaps
workflow        status changes with SLA projection; at-risk and breach sweep
progress        progress notes, stale issues, daily digest
callback        resolution and callback (回访) scores; reopen on poor scores
scoring         the score ledger derived from the event log; leaderboard
notify/         outbox drafts, channels (webhook, SMTP), delivery worker
kb              knowledge base and FTS5 trigram search
report          the service report as JSON and CSV
service         the Desk facade
==============  ==============================================================
"""
