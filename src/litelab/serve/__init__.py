"""``litelab serve``: a local web app over the runs folder and the zoo.

- :mod:`litelab.serve.catalog`: finding runs and reading what they hold (ids never become paths)
- :mod:`litelab.serve.uploads`: bounded, safe decoding of uploaded photos
- :mod:`litelab.serve.app`: the FastAPI app, its JSON API and the page
- :mod:`litelab.cli.serve`: the ``litelab serve`` verb (uvicorn, 127.0.0.1 by default)
- ``static/``: the page itself, plain HTML/CSS/JS with no outside fetches
"""
