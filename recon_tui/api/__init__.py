"""The REST API of the headless service (FastAPI, served by uvicorn; OpenAPI at ``/docs``).

:func:`recon_tui.api.app.create_app` builds the app over a
:class:`~recon_tui.services.headless.Runtime`; routes live in :mod:`.routes`, response
shapes in :mod:`.schemas`, bearer-token access in :mod:`.auth`, Prometheus text in
:mod:`.metrics`. The API calls services only, never the store's SQL.
"""
