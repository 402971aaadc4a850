"""recon-tui: the Textual app, the encrypted store, the services and the CLI."""

__version__ = "0.1.0"
