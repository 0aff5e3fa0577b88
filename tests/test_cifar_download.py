"""Download, md5 check, safe extraction and data location, against a server on 127.0.0.1.

Every test runs with ``MINIGRAD_CACHE_DIR`` in its own temporary folder and with
``socket.create_connection`` (what every HTTP connection opens) limited to 127.0.0.1, so
nothing here can reach the network or the real cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import platformdirs
import pytest
from fake_cifar import write_fake_cifar

import minigrad.data.download
from minigrad.data.cifar10 import load_cifar10
from minigrad.data.download import (
    ChecksumError,
    DataFetchError,
    DownloadError,
    UnsafeArchiveError,
    download_and_extract,
    extract_archive,
    sweep_stale_partials,
    unsafe_member_reason,
)
from minigrad.data.locate import (
    CifarFilesMissingError,
    CifarNotFoundError,
    cifar10_cache_dir,
    find_cifar10,
    minigrad_cache_dir,
)

ARCHIVE = "cifar-10-python.tar.gz"
TRICKLE = 0.05  # seconds between the bytes of a trickling server


# --- fixtures: an isolated cache, a local server, archives -----------------------------


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point the cache at tmp_path, forget MINIGRAD_CIFAR10, and allow only 127.0.0.1."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MINIGRAD_CACHE_DIR", str(cache))
    monkeypatch.delenv("MINIGRAD_CIFAR10", raising=False)
    real_connect = socket.create_connection

    def local_only(address: tuple[str, int], *args: object, **kwargs: object) -> object:
        if address[0] != "127.0.0.1":
            raise AssertionError(f"test tried to reach {address[0]}:{address[1]}")
        return real_connect(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", local_only)
    return cache


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the stalled handler writes to a socket the client already closed


class Server:
    """A local HTTP server: ``routes`` maps a path to the bytes to send and how.

    Modes: "full"; "short" (announces 1000 bytes more than it sends); "stall" (half,
    a pause, the rest); "trickle" / "trickle-no-length" (a byte every ``TRICKLE`` s);
    "slow-headers" (a header line trickled for ever); "no-length" (no Content-Length);
    "huge" (announces a terabyte).
    """

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                if self.path not in server.routes:
                    self.send_error(404)
                    return
                body, mode = server.routes[self.path]
                if mode == "slow-headers":
                    self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
                    for _ in range(2000):  # a header line that never ends
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(TRICKLE)
                    return
                self.send_response(200)
                announced = {"short": len(body) + 1000, "huge": 10**12}.get(mode, len(body))
                if not mode.endswith("no-length"):
                    self.send_header("Content-Length", str(announced))
                self.end_headers()
                if mode.startswith("trickle"):
                    for byte in body:  # one byte at a time, each well within the timeout
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(TRICKLE)
                    return
                if mode == "stall":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    time.sleep(1.0)
                self.wfile.write(body[: len(body) // 2] if mode == "short" else body)
                # Returning closes the connection (HTTP/1.0): a short body ends there.

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def serve(self, path: str, body: bytes, mode: str = "full") -> str:
        self.routes[path] = (body, mode)
        return self.url(path)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


Member = tuple[tarfile.TarInfo, bytes | None]


def tar_gz(members: list[Member]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, payload in members:
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return buffer.getvalue()


def file_member(name: str, payload: bytes) -> Member:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    return info, payload


def special_member(name: str, kind: bytes, linkname: str = "") -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, None


def cifar_archive(tmp_path: Path) -> tuple[bytes, str]:
    """A tar.gz holding ``cifar-10-batches-py/`` with fake batches, and its md5."""
    fake = write_fake_cifar(tmp_path / "src" / "cifar-10-batches-py", num_cases_per_batch=10)
    members = [file_member("cifar-10-batches-py/", b"")]
    members[0][0].type = tarfile.DIRTYPE
    for path in sorted(fake.root.iterdir()):
        members.append(file_member(f"cifar-10-batches-py/{path.name}", path.read_bytes()))
    body = tar_gz(members)
    return body, hashlib.md5(body).hexdigest()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{ARCHIVE}"


def entries(folder: Path) -> list[str]:
    """What a folder holds, besides the cache's download lock (kept on purpose)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name != ".cifar10-download.lock")


# --- download_and_extract ---------------------------------------------------------------


def test_good_archive_is_extracted_and_loadable(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body, md5 = cifar_archive(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()

    placed = download_and_extract(server.serve(f"/{ARCHIVE}", body), dest, md5, progress=True)

    assert placed == [dest / "cifar-10-batches-py"]
    assert entries(dest) == ["cifar-10-batches-py"]  # no archive, .part or staging left
    X_train, y_train, X_test, _ = load_cifar10(placed[0], dtype=np.uint8)
    assert X_train.shape == (50, 32, 32, 3) and X_test.shape == (10, 32, 32, 3)
    assert ARCHIVE in capsys.readouterr().err  # the tqdm bar was shown


def test_an_existing_folder_is_replaced_whole(server: Server, tmp_path: Path) -> None:
    body, md5 = cifar_archive(tmp_path)
    dest = tmp_path / "dest"
    (dest / "cifar-10-batches-py").mkdir(parents=True)
    (dest / "cifar-10-batches-py" / "stale").write_text("old")

    download_and_extract(server.serve("/a.tar.gz", body), dest, md5, progress=False)

    assert "stale" not in entries(dest / "cifar-10-batches-py")
    assert "data_batch_5" in entries(dest / "cifar-10-batches-py")
    assert entries(dest) == ["cifar-10-batches-py"]


def test_wrong_md5_leaves_nothing(server: Server, tmp_path: Path) -> None:
    body, _ = cifar_archive(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()

    with pytest.raises(ChecksumError, match="expected 0{32}"):
        download_and_extract(server.serve("/a.tar.gz", body), dest, "0" * 32, progress=False)

    assert entries(dest) == []


@pytest.mark.parametrize("mode", ["short", "stall"])
def test_interrupted_transfer_leaves_nothing(server: Server, tmp_path: Path, mode: str) -> None:
    body, md5 = cifar_archive(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    url = server.serve("/a.tar.gz", body, mode=mode)

    problem = "interrupted: received" if mode == "short" else "timed out"
    with pytest.raises(DownloadError, match=problem):
        download_and_extract(url, dest, md5, progress=False, timeout=0.3)

    assert entries(dest) == []


@pytest.mark.parametrize("url_kind", ["404", "refused"])
def test_unreachable_archive_is_a_download_error(
    server: Server, tmp_path: Path, url_kind: str
) -> None:
    url = server.url("/missing.tar.gz") if url_kind == "404" else closed_port_url()

    with pytest.raises(DownloadError, match="download of .* failed"):
        download_and_extract(url, tmp_path, "0" * 32, progress=False)

    assert entries(tmp_path) == []


def escape_cases(outside: Path) -> dict[str, list[Member]]:
    """Archives that try to write ``outside`` (a path beside the destination)."""
    good = file_member("cifar-10-batches-py/batches.meta", b"fine")
    return {
        "dotdot": [good, file_member("../outside/evil", b"x")],
        "absolute": [good, file_member(str(outside / "evil"), b"x")],
        "symlink": [
            special_member("cifar-10-batches-py/link", tarfile.SYMTYPE, str(outside)),
            file_member("cifar-10-batches-py/link/evil", b"x"),
        ],
        "hardlink": [good, special_member("cifar-10-batches-py/h", tarfile.LNKTYPE, "/etc/passwd")],
        "device": [good, special_member("cifar-10-batches-py/dev", tarfile.CHRTYPE)],
    }


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink", "hardlink", "device"])
def test_escaping_member_is_refused_and_nothing_is_written(
    server: Server, tmp_path: Path, case: str
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    outside = tmp_path / "outside"
    body = tar_gz(escape_cases(outside)[case])

    with pytest.raises(UnsafeArchiveError, match="refusing to extract"):
        download_and_extract(
            server.serve("/evil.tar.gz", body),
            dest,
            hashlib.md5(body).hexdigest(),
            progress=False,
        )

    assert entries(dest) == []  # not even the good member
    assert not outside.exists()
    assert entries(tmp_path) == ["dest"]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("/etc/passwd", "absolute"),
        ("C:\\evil", "absolute"),
        ("a/../../b", "'..'"),
        ("a\\..\\b", "'..'"),
        ("", "empty"),
        ("cifar-10-batches-py/data_batch_1", None),
    ],
)
def test_unsafe_member_reason(name: str, reason: str | None) -> None:
    result = unsafe_member_reason(tarfile.TarInfo(name))

    assert result is None if reason is None else (result is not None and reason in result)


def test_extract_archive_checks_md5_first(tmp_path: Path) -> None:
    body, md5 = cifar_archive(tmp_path)
    archive = tmp_path / ARCHIVE
    archive.write_bytes(body)
    dest = tmp_path / "dest"
    dest.mkdir()

    with pytest.raises(ChecksumError):
        extract_archive(archive, dest, "f" * 32)
    assert entries(dest) == []
    assert extract_archive(archive, dest, md5) == [dest / "cifar-10-batches-py"]


def test_not_a_tarball_is_a_download_error(tmp_path: Path) -> None:
    archive = tmp_path / "junk.tar.gz"
    archive.write_bytes(b"not a tar file at all")

    with pytest.raises(DownloadError, match="not a readable tar archive"):
        extract_archive(archive, tmp_path)
    assert entries(tmp_path) == ["junk.tar.gz"]


def test_errors_share_a_base() -> None:
    assert issubclass(ChecksumError, DownloadError)
    assert issubclass(DownloadError, DataFetchError)
    assert issubclass(UnsafeArchiveError, DataFetchError)


# --- find_cifar10: where the data comes from --------------------------------------------


FindCifar = Callable[..., Path]


@pytest.fixture
def find_via(server: Server, tmp_path: Path) -> FindCifar:
    """find_cifar10 with the archive served locally."""
    body, md5 = cifar_archive(tmp_path)
    url = server.serve(f"/{ARCHIVE}", body)
    return lambda **kwargs: find_cifar10(url=url, md5=md5, progress=False, **kwargs)


def test_explicit_root_wins_over_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, find_via: FindCifar
) -> None:
    mine = write_fake_cifar(tmp_path / "mine").root
    monkeypatch.setenv("MINIGRAD_CIFAR10", str(write_fake_cifar(tmp_path / "env").root))

    assert find_via(root=mine) == mine
    assert find_via() == tmp_path / "env"


@pytest.mark.parametrize("how", ["root", "env"])
def test_named_incomplete_folder_is_an_error_not_a_download(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    server: Server,
    find_via: FindCifar,
    how: str,
) -> None:
    folder = write_fake_cifar(tmp_path / "named").root
    (folder / "data_batch_2").unlink()
    if how == "env":
        monkeypatch.setenv("MINIGRAD_CIFAR10", str(folder))

    with pytest.raises(CifarFilesMissingError, match="is missing data_batch_2") as info:
        find_via(root=folder if how == "root" else None)

    assert ("$MINIGRAD_CIFAR10" in str(info.value)) == (how == "env")
    assert "Nothing is downloaded" in str(info.value)
    assert server.requests == []


def test_empty_cache_downloads_once_then_reuses(
    isolated: Path, server: Server, find_via: FindCifar
) -> None:
    folder = find_via()

    assert folder == isolated / "cifar-10-batches-py" == cifar10_cache_dir()
    assert load_cifar10(folder, dtype=np.uint8)[0].shape == (50, 32, 32, 3)
    assert entries(isolated) == ["cifar-10-batches-py"]
    assert find_via() == folder
    assert server.requests == [f"/{ARCHIVE}"]


def test_failed_download_says_where_to_put_the_files(isolated: Path) -> None:
    with pytest.raises(CifarNotFoundError) as info:
        find_cifar10(url=closed_port_url(), progress=False)

    message = str(info.value)
    assert str(isolated / "cifar-10-batches-py") in message
    assert "MINIGRAD_CIFAR10" in message and "data_batch_1" in message
    assert "Fetching it failed" in message
    assert isinstance(info.value.__cause__, DownloadError)
    assert entries(isolated) == []


def test_download_false_never_fetches(isolated: Path, server: Server, find_via: FindCifar) -> None:
    with pytest.raises(CifarNotFoundError, match="download=False"):
        find_via(download=False)

    assert server.requests == [] and entries(isolated) == []


def test_archive_copied_into_the_cache_is_used_offline(
    isolated: Path, server: Server, find_via: FindCifar
) -> None:
    good = server.routes[f"/{ARCHIVE}"][0]
    isolated.mkdir(parents=True)
    (isolated / ARCHIVE).write_bytes(good[:-1] + bytes([good[-1] ^ 1]))

    with pytest.raises(CifarNotFoundError, match="md5"):
        find_via(download=False)  # served archive's md5 differs from this copy's

    (isolated / ARCHIVE).write_bytes(good)
    assert find_via(download=False) == isolated / "cifar-10-batches-py"
    assert server.requests == []


def test_cache_dir_defaults_to_platformdirs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINIGRAD_CACHE_DIR")

    assert minigrad_cache_dir() == Path(platformdirs.user_cache_dir("minigrad"))


def test_isolation_refuses_foreign_hosts(tmp_path: Path) -> None:
    # Sanity check of the isolation fixture itself: a foreign host is refused.
    with pytest.raises(AssertionError, match="tried to reach"):
        download_and_extract("https://example.com/x.tar.gz", tmp_path, "0" * 32, progress=False)
    assert not any(name.endswith(".part") for name in os.listdir(tmp_path))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: extractall without filter
def test_own_member_checks_suffice_without_tarfile_filters(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Python < 3.10.12 has no tarfile.data_filter: our own checks must still protect.
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    dest = tmp_path / "dest"
    dest.mkdir()
    evil = tmp_path / "evil.tar.gz"
    evil.write_bytes(tar_gz(escape_cases(tmp_path / "outside")["symlink"]))
    good = tmp_path / "good.tar.gz"
    good.write_bytes(cifar_archive(tmp_path)[0])

    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        extract_archive(evil, dest)
    assert entries(dest) == [] and not (tmp_path / "outside").exists()
    assert extract_archive(good, dest) == [dest / "cifar-10-batches-py"]


# --- bounds: the deadline, the size cap, stale partial files ------------------------------


@pytest.mark.parametrize("mode", ["trickle", "trickle-no-length", "slow-headers"])
def test_a_trickling_server_is_cut_off_at_the_deadline(
    server: Server, tmp_path: Path, mode: str
) -> None:
    body, md5 = cifar_archive(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    url = server.serve("/slow.tar.gz", body, mode=mode)
    start = time.monotonic()

    with pytest.raises(DownloadError, match="timed out: not finished within the deadline of 1 s"):
        download_and_extract(url, dest, md5, progress=False, timeout=0.5, deadline=1.0)

    # Each byte came well within the 0.5 s timeout; only the deadline could stop it.
    assert time.monotonic() - start < 1.0 + 0.5 + 2.0
    assert entries(dest) == []


def test_a_body_without_a_size_is_capped(server: Server, tmp_path: Path) -> None:
    body, md5 = cifar_archive(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    url = server.serve("/a.tar.gz", body, mode="no-length")

    with pytest.raises(DownloadError, match="more than the 1000 bytes allowed arrived"):
        download_and_extract(url, dest, md5, progress=False, max_bytes=1000)
    assert entries(dest) == []
    # Within the cap, a body without Content-Length downloads as usual.
    assert download_and_extract(url, dest, md5, progress=False) == [dest / "cifar-10-batches-py"]


def test_an_announced_size_beyond_the_cap_is_refused_before_reading(
    server: Server, tmp_path: Path
) -> None:
    url = server.serve("/huge.tar.gz", b"x" * 100, mode="huge")

    with pytest.raises(DownloadError, match="announces 1000000000000 bytes, more than the"):
        download_and_extract(url, tmp_path, "0" * 32, progress=False)
    assert entries(tmp_path) == []


def _file(path: Path, data: bytes, age: float) -> Path:
    """Write ``path`` and make it ``age`` seconds old."""
    path.write_bytes(data)
    return _age(path, age)


def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_sweep_removes_what_dead_downloads_left_and_nothing_live(tmp_path: Path) -> None:
    fcntl = pytest.importorskip("fcntl")
    _file(tmp_path / "a.tar.gz.x1.part", b"half", age=120)  # its download was killed
    _file(tmp_path / "a.tar.gz.x2.part", b"just started", age=0)  # may not be locked yet
    live = _file(tmp_path / "a.tar.gz.x3.part", b"being written", age=120)
    staging = tmp_path / ".extract-abc"
    staging.mkdir()
    (staging / "half-extracted").write_text("x")
    _age(staging, 7200)
    _file(tmp_path / "cifar-10-batches-py.tar", b"a user's file", age=7200)  # never ours
    with open(live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as a live download holds its own
        removed = sweep_stale_partials(tmp_path, older_than=3600)
    assert sorted(p.name for p in removed) == [".extract-abc", "a.tar.gz.x1.part"]
    assert entries(tmp_path) == ["a.tar.gz.x2.part", "a.tar.gz.x3.part",
                                 "cifar-10-batches-py.tar"]
    _age(live, 7200)  # older than any deadline: stale even if something holds it
    assert [p.name for p in sweep_stale_partials(tmp_path, older_than=3600)] == [live.name]
    assert sweep_stale_partials(tmp_path / "missing") == []


def test_a_killed_download_leaves_a_part_that_the_next_download_removes(
    server: Server, tmp_path: Path
) -> None:
    body, md5 = cifar_archive(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    slow = server.serve("/slow.tar.gz", body, mode="trickle")
    script = ("import sys\nfrom minigrad.data.download import download_and_extract\n"
              "download_and_extract(sys.argv[1], sys.argv[2], '0' * 32, progress=False)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", script, slow, str(dest)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (server.requests and list(dest.glob("*.part"))):  # downloading now
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        child.kill()  # SIGKILL: its finally clause never runs
        child.wait(timeout=30)
    (part,) = dest.glob("*.part")
    _age(part, 120)  # older than the grace period a starting download gets

    placed = download_and_extract(server.serve("/a.tar.gz", body), dest, md5, progress=False)

    assert placed == [dest / "cifar-10-batches-py"]
    assert entries(dest) == ["cifar-10-batches-py"]  # the dead download's .part is gone


def test_find_cifar10_caps_the_download_at_the_archives_size(
    isolated: Path, server: Server, tmp_path: Path
) -> None:
    url = server.serve(f"/{ARCHIVE}", b"x" * 100, mode="huge")
    with pytest.raises(CifarNotFoundError, match="announces 1000000000000 bytes"):
        find_cifar10(url=url, progress=False)
    assert entries(isolated) == []


def test_an_archive_that_would_unpack_too_much_is_refused_before_extracting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(minigrad.data.download, "MAX_EXTRACTED_BYTES", 1000)
    archive = tmp_path / "big.tar.gz"
    archive.write_bytes(tar_gz([file_member("cifar-10-batches-py/a", b"x" * 600),
                                file_member("cifar-10-batches-py/b", b"y" * 600)]))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError, match="bytes to unpack; refusing to extract"):
        extract_archive(archive, dest)
    assert entries(dest) == []
