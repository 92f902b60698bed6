"""--web-tls: a self-signed certificate made on first use (with openssl), kept in the data dir.

Browsers give motion sensors (DeviceMotion) only to secure pages, so a phone that is to be the
sensor needs https. The certificate names this machine's address; it is made again when the
address changes.
"""
from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
from pathlib import Path

from coach.errors import CoachError


def cert_dir() -> Path:
    from coach.config import data_dir

    return data_dir() / "web-tls"


def ensure_cert(address: str, directory: Path | None = None) -> tuple[Path, Path, bool]:
    """(cert, key, made_now) for `address`; made with openssl when missing or for another address."""
    d = directory or cert_dir()
    cert, key, names = d / "cert.pem", d / "key.pem", d / "names.txt"
    if cert.exists() and key.exists() and names.exists() and names.read_text().strip() == address:
        return cert, key, False
    if shutil.which("openssl") is None:
        raise CoachError("--web-tls needs openssl (apt-get install openssl)")
    d.mkdir(parents=True, exist_ok=True)
    try:
        ipaddress.ip_address(address)
        san = f"IP:{address},DNS:localhost,IP:127.0.0.1"
    except ValueError:
        san = f"DNS:{address},DNS:localhost,IP:127.0.0.1"
    cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
           "-nodes", "-days", "825", "-subj", "/CN=retro-coach", "-addext", f"subjectAltName={san}",
           "-keyout", str(key), "-out", str(cert)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if r.returncode != 0:
        raise CoachError(f"openssl could not make a certificate: {r.stderr.strip().splitlines()[-1:]}")
    key.chmod(0o600)
    names.write_text(address + "\n")
    return cert, key, True


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
