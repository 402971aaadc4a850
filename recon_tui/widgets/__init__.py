"""Widgets of the app: one per file (record pane, candidates, detail, charts, health)."""
