"""The emulator's own certificate authority, server certificate and CA bundle.

httpx (under fal-client) honours `SSL_CERT_FILE`; pointing it at `bundle.pem` (certifi's
CAs plus ours) lets one process reach the emulator and real HTTPS hosts alike.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

# The names a client may use for a loopback emulator.
SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the PEM files written for one emulator run."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    bundle: Path

    def client_context(self) -> ssl.SSLContext:
        """An SSL context trusting the bundle (certifi + the emulator's CA)."""
        return ssl.create_default_context(cafile=str(self.bundle))


def make_tls_files(folder: Path, names: Sequence[str] = SERVER_NAMES) -> TlsFiles:
    """Create a fresh CA and server certificate for `names` in `folder`, plus the CA bundle."""
    import certifi
    import trustme

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="kling_nb emulator (local, not trusted elsewhere)")
    leaf = ca.issue_cert(*names, common_name="kling_nb emulator")
    files = TlsFiles(
        ca_cert=folder / "ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        bundle=folder / "bundle.pem",
    )
    ca.cert_pem.write_to_path(str(files.ca_cert))
    leaf.private_key_pem.write_to_path(str(files.server_key))
    files.server_cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    system = Path(certifi.where()).read_bytes()
    files.bundle.write_bytes(system.rstrip(b"\n") + b"\n" + ca.cert_pem.bytes())
    files.server_key.chmod(0o600)
    return files
