"""`python -m replica [--port-base N] [--site ID ...]`: serve the replica in the foreground."""

from __future__ import annotations

import argparse
import sys
import threading

from replica.server import ReplicaServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replica", description=__doc__)
    parser.add_argument(
        "--port-base", type=int, default=None, help="first port (default: free ports)"
    )
    parser.add_argument("--site", action="append", default=None, help="serve only this site")
    parser.add_argument("--sites-file", default=None, help="also write the sites file here")
    args = parser.parse_args(argv)
    server = ReplicaServer(args.site, port_base=args.port_base).start()
    if args.sites_file:
        server.write_sites_file(args.sites_file)
    sys.stdout.write(server.sites_toml())
    sys.stdout.write("\n# serving; Ctrl-C to stop\n")
    sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
