"""A real RFC 3161 Time-Stamping Authority on 127.0.0.1, answering with ``openssl ts -reply``.

The test PKI is made here with ``cryptography``: a root CA and a TSA certificate it issues, with
the critical timeStamping extended key usage RFC 3161 section 2.3 requires. The server answers
``application/timestamp-query`` POSTs with OpenSSL's reply (signer certificate only), unless a test
sets ``mode``:

* ``"ok"``            a real token;
* ``"down"``          HTTP 503;
* ``"refuse"``        a granted-less TimeStampResp (status rejection);
* ``"wrong_imprint"`` a real token over another hash (the query's imprint altered before signing);
* ``"replay"``        the first token this server ever issued, whatever was asked;
* ``"chain"``         a token carrying the signer and CA certificates in unsorted order, as
                      OpenSSL writes a chain it was given (``-chain``), which is not valid DER.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from rfc3161_client import decode_timestamp_response
from rfc3161_client._rust import parse_timestamp_request

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl (Debian's) is not installed")
REJECTION = bytes.fromhex("3005300302010" + "2")  # TimeStampResp { status { rejection } }


@dataclass(frozen=True)
class Pki:
    ca: Path  # the root's certificate, PEM
    tsa_cert: Path
    tsa_key: Path
    config: Path  # the openssl ts section


def make_pki(folder: Path, name: str = "Test") -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} Root CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} TSA")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(folder / "ca.pem", folder / "tsa.pem", folder / "tsa.key", folder / "tsa.cnf")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.tsa_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.tsa_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (folder / "serial").write_text("01\n")
    pki.config.write_text(
        "[ tsa ]\ndefault_tsa = tsa1\n[ tsa1 ]\n"
        f"dir = {folder}\nserial = $dir/serial\ncrypto_device = builtin\n"
        "signer_cert = $dir/tsa.pem\nsigner_key = $dir/tsa.key\nsigner_digest = sha256\n"
        "default_policy = 1.3.6.1.4.1.99999.1\ndigests = sha256, sha384, sha512\n"
        "accuracy = secs:1\nordering = no\ntsa_name = no\ness_cert_id_chain = no\n"
        "ess_cert_id_alg = sha256\n"
    )
    return pki


@dataclass
class TsaServer:
    pki: Pki
    url: str = ""
    mode: str = "ok"
    served: list[bytes] = field(default_factory=list)  # every token issued, in order
    queries: int = 0

    def reply(self, query: bytes) -> bytes:
        if self.mode == "refuse":
            return REJECTION
        if self.mode == "replay" and self.served:
            return self.served[0]
        if self.mode == "wrong_imprint":
            imprint = bytes(parse_timestamp_request(query).message_imprint.message)
            query = query.replace(imprint, bytes(b ^ 0xFF for b in imprint))
        if self.mode != "chain":
            token = self._openssl(query)
        else:  # OpenSSL keeps the chain's order; one of the two orders is not DER's SET OF order
            pems = [self.pki.ca.read_bytes(), self.pki.tsa_cert.read_bytes()]
            token = self._openssl(query, pems[0] + pems[1])
            try:
                decode_timestamp_response(token)
                token = self._openssl(query, pems[1] + pems[0])
            except ValueError:
                pass
        self.served.append(token)
        return token

    def _openssl(self, query: bytes, chain: bytes | None = None) -> bytes:
        with tempfile.TemporaryDirectory() as tmp:
            queryfile, out = Path(tmp) / "q.tsq", Path(tmp) / "r.tsr"
            queryfile.write_bytes(query)
            command = [str(OPENSSL), "ts", "-reply", "-config", str(self.pki.config)]
            command += ["-queryfile", str(queryfile), "-out", str(out)]
            if chain is not None:
                (Path(tmp) / "chain.pem").write_bytes(chain)
                command += ["-chain", str(Path(tmp) / "chain.pem")]
            subprocess.run(command, check=True, capture_output=True)
            return out.read_bytes()


@contextmanager
def running_tsa(pki: Pki) -> Iterator[TsaServer]:
    server = TsaServer(pki)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            server.queries += 1
            query = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if server.mode == "down" or self.headers.get("Content-Type") != (
                "application/timestamp-query"
            ):
                self.send_response(503 if server.mode == "down" else 415)
                self.end_headers()
                return
            body = server.reply(query)
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}/tsr"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
