"""The gateway worker and its client: long-lived sockets to users' IB Gateway/TWS and OpenD (see host.py)."""
