"""The service layer: what the app and the CLI both call. No Textual here.

:mod:`workspace` opens stores and builds the demo, :mod:`sync` runs sources,
:mod:`status` reports health and counts; later modules add matching, the workbench's
queries and decisions, sessions and exports.
"""
