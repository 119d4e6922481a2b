"""The bodies of the ``bd`` commands, one module per area; each is declared once (``cli.decl``)."""
