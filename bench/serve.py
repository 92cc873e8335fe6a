"""Serve one set-up's app over real HTTP: ``python bench/serve.py SETUP PORT``.

A threaded Werkzeug server on 127.0.0.1, for the race and soak drills; the
HTTP benchmark runs the same app under gunicorn (``bench/wsgi.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import make_app
from setups import SETUPS, quiet_checks
from werkzeug.serving import make_server


def main() -> None:
    quiet_checks()
    name, port = sys.argv[1], int(sys.argv[2])
    setup = SETUPS[name]
    app = make_app(setup, uses_session=setup is not None)
    server = make_server("127.0.0.1", port, app, threaded=True)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
