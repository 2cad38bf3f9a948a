"""Helpers the tests share (fixtures stay in the conftest.py files, which import from here):

balances.py   FakeReader: a chain balance reader answering from dicts
campaigns.py  Setup (a user's token, pools and funding wallet: rows, or seeded on a
              localnet cluster), make_campaign, and the engine's rows (jobs, trades,
              executions) written straight for pages and the console
engine.py     waiting on the engine, holding its locks from another session, draining
              jobs, listening to a campaign's events
web.py        credentials for API clients and WebSocket sessions
"""
