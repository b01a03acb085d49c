"""Mutual TLS required: a client certificate from the registry's CA works; no certificate,
a certificate from another CA, an expired certificate and a plaintext connection are all
refused at the handshake, and the refusals leave the server SERVING."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from registry.client.grpc_client import ClientTls, CommandRejected, RegistryClient
from registry.service.server import RegistryServer, TlsFiles
from tests.e2e.grpc_world import start_server
from tests.hostile.harness import Tally, health_status

NOW = datetime.datetime.now(datetime.UTC)
HOUR = datetime.timedelta(hours=1)


class Authority:
    """A CA whose key we keep, so it can also sign an expired certificate."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.certificate = (
            self._builder(self.name, self.key.public_key(), NOW - HOUR, NOW + 24 * HOUR)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        (directory / f"{name}.pem").write_bytes(self.pem(self.certificate))

    def _builder(
        self,
        subject: x509.Name,
        public_key: ec.EllipticCurvePublicKey,
        start: datetime.datetime,
        end: datetime.datetime,
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
        )

    @staticmethod
    def pem(certificate: x509.Certificate) -> bytes:
        return certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        name: str,
        server: bool = False,
        start: datetime.datetime = NOW - HOUR,
        end: datetime.datetime = NOW + 24 * HOUR,
    ) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        names: list[x509.GeneralName] = [x509.DNSName("localhost" if server else name)]
        certificate = (
            self._builder(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]),
                key.public_key(),
                start,
                end,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        certificate_path = self.directory / f"{name}.pem"
        key_path = self.directory / f"{name}.key"
        certificate_path.write_bytes(self.pem(certificate))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return certificate_path, key_path


@pytest.fixture(scope="module")
def authorities(tmp_path_factory: pytest.TempPathFactory) -> tuple[Authority, Authority]:
    directory = tmp_path_factory.mktemp("certificates")
    return Authority(directory, "registry-ca"), Authority(directory, "other-ca")


@pytest.fixture(scope="module")
def mutual_tls_server(
    tmp_path_factory: pytest.TempPathFactory, authorities: tuple[Authority, Authority]
) -> Iterator[RegistryServer]:
    registry_ca, _ = authorities
    certificate, key = registry_ca.issue("server", server=True)
    tls = TlsFiles(certificate, key, client_ca=registry_ca.directory / "registry-ca.pem")
    running = start_server(tmp_path_factory.mktemp("mutual-tls"), tls=tls)
    yield running
    running.stop(grace_s=1)


def test_only_clients_with_a_certificate_from_the_registry_ca_get_in(
    mutual_tls_server: RegistryServer, authorities: tuple[Authority, Authority]
) -> None:
    registry_ca, other_ca = authorities
    root = registry_ca.directory / "registry-ca.pem"
    target = f"localhost:{mutual_tls_server.port}"
    trusted = ClientTls(root, *registry_ca.issue("akishima"))
    refused = {
        "no client certificate": ClientTls(root),
        "certificate from another CA": ClientTls(root, *other_ca.issue("intruder")),
        "expired certificate": ClientTls(
            root, *registry_ca.issue("expired", start=NOW - 48 * HOUR, end=NOW - 24 * HOUR)
        ),
        "certificate not yet valid": ClientTls(
            root, *registry_ca.issue("early", start=NOW + 24 * HOUR, end=NOW + 48 * HOUR)
        ),
        "plaintext": None,
    }
    tally = Tally("mutual-TLS", suite="mutual-tls")
    with RegistryClient(target, trusted) as client:
        assert len(client.allocation().totals) == 6  # served
        tally.cases += 1
        tally.accept()
    for name, tls in refused.items():
        tally.cases += 1
        with (
            RegistryClient(target, tls, timeout_s=5) as client,
            pytest.raises(CommandRejected) as caught,
        ):
            client.allocation()
        assert caught.value.status is grpc.StatusCode.UNAVAILABLE, name
        tally.rejected += 1
        tally.codes[name] += 1
    trusted_credentials = (
        grpc.ssl_channel_credentials(
            root.read_bytes(), trusted.private_key.read_bytes(), trusted.certificate.read_bytes()
        )
        if trusted.private_key and trusted.certificate
        else None
    )
    assert health_status(target, trusted_credentials) == 1  # SERVING after every refusal
    tally.report()
