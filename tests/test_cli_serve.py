"""``anchor serve --detach`` / ``--stop``: gunicorn in the background on a chosen port, found
again through its pid file and stopped, and never mistaken for another server on that port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from anchor.chain.anvil import DevChain, free_port
from tests.helpers import Cli, pid_running, port_open, wait_until

pytestmark = [pytest.mark.chain, pytest.mark.slow]


@pytest.fixture
def cli(tmp_path: Path, anvil: DevChain, capsys: pytest.CaptureFixture[str]) -> Iterator[Cli]:
    c = Cli(tmp_path / "home", anvil.rpc_url, capsys)
    c.ok("deploy")
    yield c
    c.subprocess("serve", "--stop")


def test_serve_detach_then_stop(cli: Cli) -> None:
    port = free_port()
    started = cli.subprocess("serve", "--detach", "--bind", f"127.0.0.1:{port}", "--workers", "1")
    assert started.returncode == 0, started.stderr
    assert f"serving http://127.0.0.1:{port} (registry 0x" in started.stdout
    pid = int((cli.home / "service" / "gunicorn.pid").read_text())
    assert pid_running(pid)
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200

    stopped = cli.subprocess("serve", "--stop")
    assert stopped.returncode == 0 and "service stopped" in stopped.stdout
    assert wait_until(lambda: not pid_running(pid), 5)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    assert not port_open(port)
    assert "no detached service is running" in cli.subprocess("serve", "--stop").stdout


def test_serve_port_from_environment(cli: Cli) -> None:
    port = free_port()
    started = cli.subprocess("serve", "--detach", "--workers", "1", ANCHOR_SERVICE_BIND=f"127.0.0.1:{port}")
    assert started.returncode == 0, started.stderr
    assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
    assert "service stopped" in cli.subprocess("serve", "--stop").stdout
    assert wait_until(lambda: not port_open(port), 5)


class _Impostor(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def impostor() -> Iterator[int]:
    """Another HTTP server answering 200 on every path (another program holding the port)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_serve_refuses_a_port_another_server_holds(cli: Cli) -> None:
    """Without the check, /healthz answered by the other server reads as "our service is up"
    while gunicorn fails to bind: the command would report a service that does not exist."""
    with impostor() as port:
        result = cli.subprocess("serve", "--detach", "--bind", f"127.0.0.1:{port}", "--workers", "1")
        assert result.returncode == 3, result.stdout
        assert f"error: 127.0.0.1:{port} is already in use" in result.stderr
        assert not (cli.home / "service" / "gunicorn.pid").exists()


def test_workers_read_the_settings_file_serve_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings only the TOML file holds (fallback RPC URLs, fee caps) reach the gunicorn workers,
    found by the file's absolute path whatever the workers' directory; what serve resolved wins."""
    from anchor.cli.serving import _env
    from anchor.config import load_settings

    conf = tmp_path / "conf" / "anchor.toml"
    conf.parent.mkdir()
    conf.write_text('rpc_urls = ["http://127.0.0.1:9"]\nmax_fee_gwei = 7.5\nconfirmations = 3\n')
    monkeypatch.chdir(conf.parent)
    settings = load_settings(Path("anchor.toml"), env={}).with_overrides(confirmations=2)
    env = _env(settings, "0x" + "11" * 20)
    assert env["ANCHOR_CONFIG"] == str(conf.resolve())
    monkeypatch.chdir(tmp_path)  # the workers' own directory has no anchor.toml
    worker = load_settings(env=env)
    assert worker.rpc_urls == ("http://127.0.0.1:9",) and worker.max_fee_gwei == 7.5
    assert worker.confirmations == 2 and worker.registry == "0x" + "11" * 20

    plain = _env(load_settings(env={}), "0x" + "11" * 20)  # no file: nothing to pass on
    assert "ANCHOR_CONFIG" not in plain
