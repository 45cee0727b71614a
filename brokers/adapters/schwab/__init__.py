"""Charles Schwab through schwab-py: `adapter.SchwabAdapter` (imported lazily by the registry).

`auth` builds schwab-py clients over our own OAuth session (host from `SCHWAB_API_URL`, refreshed
tokens saved through the vault); `payloads` converts Schwab's JSON; `errors` checks every answer's
status, since schwab-py returns HTTP errors as responses.
"""
