"""The per-workspace daemon: ``lifecycle`` (start, stop, status, restart, logs: what clients
call) and ``process`` (the daemon process: lifetime lock, socket, serving)."""
