"""The daemon's wire protocol (protocol.py), its server (server.py) and client (client.py)."""
