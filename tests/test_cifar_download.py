"""Download, md5 check, safe extraction and data location, against a server on 127.0.0.1.

Every test runs with ``MINIGRAD_CACHE_DIR`` in its own temporary folder and with
``urlopen`` limited to 127.0.0.1, so nothing here can reach the network or the real cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import tarfile
import threading
import time
import urllib.parse
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


# --- fixtures: an isolated cache, a local server, archives -----------------------------


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point the cache at tmp_path, forget MINIGRAD_CIFAR10, and allow only 127.0.0.1."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MINIGRAD_CACHE_DIR", str(cache))
    monkeypatch.delenv("MINIGRAD_CIFAR10", raising=False)
    real_urlopen = minigrad.data.download.urllib.request.urlopen

    def local_only(url: str, *args: object, **kwargs: object) -> object:
        host = urllib.parse.urlsplit(url).hostname
        if host != "127.0.0.1":
            raise AssertionError(f"test tried to reach {url}")
        return real_urlopen(url, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(minigrad.data.download.urllib.request, "urlopen", local_only)
    return cache


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the stalled handler writes to a socket the client already closed


class Server:
    """A local HTTP server: ``routes`` maps a path to the bytes to send and how."""

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
                self.send_response(200)
                announced = len(body) + 1000 if mode == "short" else len(body)
                self.send_header("Content-Length", str(announced))
                self.end_headers()
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
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


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
