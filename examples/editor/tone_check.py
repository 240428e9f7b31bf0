#!/usr/bin/env python3
"""Tone-checks an editor buffer through a running `starling serve` and prints one diagnostic
per line, `FILE:LINE:COL: SEVERITY: CATEGORY: MESSAGE`, the format Vim's quickfix, Neovim's
diagnostics and most editors' "external linter" settings read. Standard library only.

    python3 tone_check.py draft.md            # or: ... < buffer  (FILE shown as "-")

The server and token are found like the CLI finds them: $STARLING_URL / $STARLING_TOKEN, else
the discovery file and token in $XDG_DATA_HOME/starling. Exit status: 0 clean, 1 findings,
2 error (no server, bad token).
"""
import json
import os
import sys
import urllib.request
from pathlib import Path


def server():
    data = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local/share")) / "starling"
    url = os.environ.get("STARLING_URL")
    if not url:
        record = json.loads((data / "server.json").read_text())
        url = f"http://127.0.0.1:{record['address'].rsplit(':', 1)[1]}"
    token = os.environ.get("STARLING_TOKEN") or (data / "server-token").read_text().strip()
    return url.rstrip("/").removesuffix("/v1"), token


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "-"
    text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    try:
        url, token = server()
        request = urllib.request.Request(
            f"{url}/v1/tone",
            data=json.dumps({"text": text, "profile": os.environ.get("STARLING_PROFILE", "default")}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            report = json.load(response)
    except Exception as err:  # no server, wrong token, ...
        print(f"tone_check: {err}", file=sys.stderr)
        return 2
    for f in report["findings"]:
        print(f"{name}:{f['line']}:{f['column']}: {f['severity']}: {f['category']}: {f['message']}")
    return 1 if report["findings"] else 0


if __name__ == "__main__":
    sys.exit(main())
