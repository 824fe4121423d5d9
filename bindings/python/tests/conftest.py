"""Fixtures for the Python suite of cunwu-ffi: the generated module and a real relay.

At import, this builds cunwu-ffi and generates the `cunwu_ffi` module with the
workspace's uniffi-bindgen (bindings/python/generate.sh), unless CUNWU_PY_BINDINGS
names a folder that already holds it. The `relay` fixture starts a real
`cunwu-relay` process on a free loopback port with its own SQLite file in a temp
folder, after creating a space (青石村) and invites with the relay's admin commands.

Environment:
  CUNWU_RELAY_BIN     relay binary (default: <repo>/target/debug/cunwu-relay, built if missing)
  CUNWU_PY_BINDINGS   folder with a generated cunwu_ffi.py + library (skip generation)
  CUNWU_NO_BUILD=1    do not run cargo (the caller built everything)
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PY_DIR = ROOT / "bindings" / "python"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def _prepare_module() -> Path:
    given = os.environ.get("CUNWU_PY_BINDINGS")
    if given:
        return Path(given)
    out = PY_DIR / "generated"
    subprocess.run(["bash", str(PY_DIR / "generate.sh"), str(out)], check=True, cwd=ROOT)
    return out


sys.path.insert(0, str(_prepare_module()))


def relay_binary() -> Path:
    given = os.environ.get("CUNWU_RELAY_BIN")
    if given:
        return Path(given)
    path = TARGET / "debug" / "cunwu-relay"
    if os.environ.get("CUNWU_NO_BUILD") != "1" or not path.exists():
        subprocess.run(["cargo", "build", "--quiet", "-p", "cunwu-relay"], check=True, cwd=ROOT)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Relay:
    """A cunwu-relay process serving one space, and its admin commands."""

    SPACE_NAME = "青石村"

    def __init__(self, binary: Path, workdir: Path):
        self.binary = binary
        self.workdir = workdir
        self.db = workdir / "relay.db"
        created = self.admin("space", "create", "--name", self.SPACE_NAME)
        self.space_id = created["space_id"]
        self.cadre_invite = created["invite"]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "relay.log", "wb")
        self.proc = subprocess.Popen(
            [str(binary), "serve", "--listen", f"127.0.0.1:{self.port}", "--db", str(self.db)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_healthy()

    def admin(self, *args: str) -> dict:
        out = subprocess.run(
            [str(self.binary), *args, "--db", str(self.db), "--json"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return json.loads(out.stdout)

    def invite(self, role: str = "resident") -> str:
        return self.admin("invite", "create", "--space", self.space_id, "--role", role)["invite"]

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"relay exited with {self.proc.returncode}: {self.output()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"relay not healthy after 30 s: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        return (self.workdir / "relay.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def relay(tmp_path):
    r = Relay(relay_binary(), tmp_path)
    yield r
    r.stop()
