"""Visual voicemail over IMAP: an IMAP4rev1 gateway (IDLE, UIDPLUS, MOVE, QUOTA) in front of the HTTP API.

It keeps no state of its own: LOGIN opens a session through `POST /api/mailboxes/{id}/sessions` and
every command acts with that token, so lockouts, rate limits, counts and (when they land) tenants and
budgets hold exactly as they do over HTTP. Built on Twisted's `twisted.mail.imap4` server.

    python -m gateways.imap            (`make run` starts it on 127.0.0.1:1143; docs/imap.md)
"""

import warnings

# Twisted warns that it cannot verify a server's host name without service_identity: the gateway is
# a server and verifies no one's (its API calls go through httpx).
warnings.filterwarnings("ignore", message=".*service_identity.*")
