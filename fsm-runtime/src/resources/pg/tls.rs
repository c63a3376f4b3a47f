//! TLS for [`Postgres`](super::Postgres) connections, as libpq's `sslmode` and `sslrootcert` ask:
//! rustls on ring (no OpenSSL), the certificate checked against the roots in `sslrootcert` or,
//! for `verify-ca` and `verify-full` without one, the Mozilla roots of `webpki-roots`.
//!
//! | `sslmode` | the connection | the server's certificate |
//! | --- | --- | --- |
//! | `disable` | plain | - |
//! | `prefer` (the default) | TLS when the server offers it, plain otherwise | checked against `sslrootcert` when given, else not checked |
//! | `require` | TLS, or the connection fails | the same |
//! | `verify-ca` | TLS, or the connection fails | signed by a root (`sslrootcert`, else the Mozilla roots) |
//! | `verify-full` | TLS, or the connection fails | the same, and issued for the host connected to |
//!
//! `sslmode` and `sslrootcert` are taken out of the connection string before the `postgres`
//! crate reads the rest (it knows neither `sslrootcert` nor the `verify-*` modes).

use super::super::ResourceError;
use postgres::config::SslMode;
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use postgres::{Client, Config, Socket};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// libpq's `sslmode` values this client knows (not `allow`: plain first, TLS if refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    const NAMES: &'static str = "disable, prefer, require, verify-ca or verify-full";

    fn parse(value: &str) -> Result<Mode, ResourceError> {
        Ok(match value {
            "disable" => Mode::Disable,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            other => {
                return Err(ResourceError::Config {
                    key: "sslmode",
                    reason: format!("`{other}` is not supported: use {}", Mode::NAMES),
                });
            }
        })
    }
}

/// How to open one more connection of a pool: the parsed settings and the TLS they ask for.
pub(crate) struct Connect {
    config: Config,
    tls: MakeRustls,
}

impl Connect {
    /// Reads a connection string (`postgres://...?sslmode=require&sslrootcert=ca.pem`, or
    /// `host=... sslmode=require`), and the root certificates it names.
    pub(crate) fn parse(url: &str) -> Result<Connect, ResourceError> {
        let Split { rest, mode, root_cert } = split(url)?;
        let mut config: Config = rest.parse()?;
        let mode = match mode {
            Some(mode) => Mode::parse(&mode)?,
            None => Mode::Prefer,
        };
        config.ssl_mode(match mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        });
        let tls = if mode == Mode::Disable {
            MakeRustls(None)
        } else {
            let roots = match root_cert {
                Some(path) => Some(Arc::new(read_roots(&path)?)),
                None if matches!(mode, Mode::VerifyCa | Mode::VerifyFull) => Some(mozilla_roots()),
                None => None,
            };
            MakeRustls(Some(client_config(roots, mode == Mode::VerifyFull)?))
        };
        Ok(Connect { config, tls })
    }

    pub(crate) fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Opens a connection.
    pub(crate) fn connect(&self) -> Result<Client, postgres::Error> {
        self.config.connect(self.tls.clone())
    }
}

/// A connection string without its `sslmode` and `sslrootcert`, and their (last) values.
#[derive(Debug, PartialEq, Eq)]
struct Split {
    rest: String,
    mode: Option<String>,
    root_cert: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of `url`, read as the `postgres` crate reads it: a URL's
/// parameters after the first `?` that follows the credentials, percent-decoded; or `key=value`
/// pairs (values quoted with `'` or not, `\` escaping). A string this cannot read is passed on
/// whole, for the `postgres` crate to report what is wrong with it.
fn split(url: &str) -> Result<Split, ResourceError> {
    let parsed = match ["postgres://", "postgresql://"].iter().find(|p| url.starts_with(*p)) {
        Some(_) => split_url(url),
        None => split_key_values(url),
    };
    Ok(parsed.unwrap_or_else(|| Split {
        rest: url.to_owned(),
        mode: None,
        root_cert: None,
    }))
}

fn split_url(url: &str) -> Option<Split> {
    // The credentials end at the first `@` (a password may hold `?`); the parameters follow the
    // next `?`.
    let after_credentials = url.find('@').map_or(0, |at| at + 1);
    let Some(question) = url[after_credentials..].find('?').map(|q| q + after_credentials) else {
        return Some(Split {
            rest: url.to_owned(),
            mode: None,
            root_cert: None,
        });
    };
    let (mut mode, mut root_cert) = (None, None);
    let mut kept = Vec::new();
    for pair in url[question + 1..].split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=')?;
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
        };
        match decode(key).ok()?.as_str() {
            "sslmode" => mode = Some(decode(value).ok()?),
            "sslrootcert" => root_cert = Some(decode(value).ok()?),
            _ => kept.push(pair),
        }
    }
    let mut rest = url[..question].to_owned();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Some(Split { rest, mode, root_cert })
}

fn split_key_values(s: &str) -> Option<Split> {
    let (mut mode, mut root_cert) = (None, None);
    let mut rest = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    let skip_ws = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_ws(&mut chars);
        let Some(&(start, _)) = chars.peek() else { break };
        while chars.next_if(|(_, c)| !c.is_whitespace() && *c != '=').is_some() {}
        let key_end = chars.peek().map_or(s.len(), |(i, _)| *i);
        let key = &s[start..key_end];
        skip_ws(&mut chars);
        chars.next_if(|(_, c)| *c == '=')?;
        skip_ws(&mut chars);
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next()?.1 {
                    '\'' => break,
                    '\\' => value.push(chars.next()?.1),
                    c => value.push(c),
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
            if value.is_empty() {
                return None;
            }
        }
        let end = chars.peek().map_or(s.len(), |(i, _)| *i);
        match key {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root_cert = Some(value),
            _ => {
                if !rest.is_empty() {
                    rest.push(' ');
                }
                rest.push_str(&s[start..end]);
            }
        }
    }
    Some(Split { rest, mode, root_cert })
}

/// The certificates of a PEM file, as the roots to check a server's certificate against.
fn read_roots(path: &str) -> Result<RootCertStore, ResourceError> {
    let config_error = |reason: String| ResourceError::Config {
        key: "sslrootcert",
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| config_error(format!("cannot read `{path}`: {e}")))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| config_error(format!("`{path}` is not a PEM file of certificates: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| config_error(format!("`{path}` holds a certificate that cannot be a root: {e}")))?;
    }
    if roots.is_empty() {
        return Err(config_error(format!(
            "`{path}` holds no certificate (PEM, `-----BEGIN CERTIFICATE-----`)"
        )));
    }
    Ok(roots)
}

/// The Mozilla roots, read once.
fn mozilla_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| Arc::new(RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())))
        .clone()
}

fn client_config(roots: Option<Arc<RootCertStore>>, check_name: bool) -> Result<Arc<ClientConfig>, ResourceError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Verifier {
        roots,
        check_name,
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ResourceError::Config {
            key: "sslmode",
            reason: format!("TLS cannot be set up: {e}"),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // What PostgreSQL 17 asks of a direct TLS connection (`sslnegotiation=direct`); older
    // servers ignore it.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Arc::new(config))
}

/// Checks a server's certificate as the `sslmode` says: signed by one of `roots` (none: any
/// certificate, as libpq's `prefer` and `require` without a root file), and issued for the
/// host name (`check_name`, `verify-full`). The handshake's signatures are always checked: the
/// server holds the key of the certificate it sent.
#[derive(Debug)]
struct Verifier {
    roots: Option<Arc<RootCertStore>>,
    check_name: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
            if self.check_name {
                rustls::client::verify_server_name(&cert, server_name)?;
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What the `postgres` crate calls to wrap each new connection in TLS. `None` under
/// `sslmode=disable`, where it never asks for it.
#[derive(Clone)]
struct MakeRustls(Option<Arc<ClientConfig>>);

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, io::Error> {
        // Over a Unix socket the domain is empty and TLS is never started: the name is checked
        // only when the handshake begins.
        Ok(RustlsConnect {
            config: self.0.clone(),
            domain: domain.to_owned(),
        })
    }
}

struct RustlsConnect {
    config: Option<Arc<ClientConfig>>,
    domain: String,
}

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

    fn connect(self, stream: Socket) -> Self::Future {
        Box::pin(async move {
            let config = self
                .config
                .ok_or_else(|| io::Error::other("TLS is off (sslmode=disable)"))?;
            let name = ServerName::try_from(self.domain.clone()).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("`{}` is not a host name TLS can check: {e}", self.domain),
                )
            })?;
            let stream = tokio_rustls::TlsConnector::from(config).connect(name, stream).await?;
            Ok(RustlsStream(stream))
        })
    }
}

struct RustlsStream(tokio_rustls::client::TlsStream<Socket>);

impl TlsStream for RustlsStream {
    /// `tls-server-end-point` (RFC 5929): the server's certificate hashed with its signature's
    /// hash, for SCRAM's channel binding, which ties the password exchange to this TLS session
    /// (a man in the middle cannot relay it, even when the certificate is not checked).
    fn channel_binding(&self) -> ChannelBinding {
        let (_, session) = self.0.get_ref();
        session
            .peer_certificates()
            .and_then(|certs| certs.first())
            .and_then(|cert| end_point_hash(cert))
            .map_or_else(ChannelBinding::none, ChannelBinding::tls_server_end_point)
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The certificate (DER) hashed as RFC 5929 says: with the hash of its signature algorithm,
/// SHA-256 for MD5 and SHA-1; `None` for algorithms that name no hash (Ed25519, RSA-PSS, whose
/// hash is in its parameters), where no channel binding is offered.
fn end_point_hash(cert: &[u8]) -> Option<Vec<u8>> {
    use ring::digest::{SHA256, SHA384, SHA512};
    // The OIDs' DER contents: 1.2.840.113549.1.1.{4,5,11,12,13} (RSA with MD5, SHA-1, SHA-2) and
    // 1.2.840.10045.4.1, 1.2.840.10045.4.3.{2,3,4} (ECDSA with SHA-1, SHA-2).
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    const ECDSA_SHA2: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    let oid = signature_algorithm(cert)?;
    let algorithm = match oid.split_last()? {
        (4 | 5 | 11, prefix) if prefix == RSA => &SHA256,
        (12, prefix) if prefix == RSA => &SHA384,
        (13, prefix) if prefix == RSA => &SHA512,
        _ if oid == ECDSA_SHA1 => &SHA256,
        (2, prefix) if prefix == ECDSA_SHA2 => &SHA256,
        (3, prefix) if prefix == ECDSA_SHA2 => &SHA384,
        (4, prefix) if prefix == ECDSA_SHA2 => &SHA512,
        _ => return None,
    };
    Some(ring::digest::digest(algorithm, cert).as_ref().to_vec())
}

/// The OID of a certificate's `signatureAlgorithm`: `Certificate ::= SEQUENCE { tbsCertificate
/// SEQUENCE, signatureAlgorithm SEQUENCE { algorithm OID, ... }, ... }`.
fn signature_algorithm(cert: &[u8]) -> Option<&[u8]> {
    let (certificate, _) = der(cert, 0x30)?;
    let (_, after_tbs) = der(certificate, 0x30)?;
    let (algorithm, _) = der(after_tbs, 0x30)?;
    let (oid, _) = der(algorithm, 0x06)?;
    Some(oid)
}

/// The contents of the DER element at the start of `input` if its tag is `tag`, and what follows.
fn der(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, input) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, rest) = input.split_at_checked(count)?;
        input = rest;
        bytes.iter().fold(0usize, |len, b| (len << 8) | usize::from(*b))
    };
    input.split_at_checked(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_ok(url: &str) -> Split {
        split(url).unwrap()
    }

    fn parts(rest: &str, mode: Option<&str>, root_cert: Option<&str>) -> Split {
        Split {
            rest: rest.into(),
            mode: mode.map(Into::into),
            root_cert: root_cert.map(Into::into),
        }
    }

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_a_url() {
        assert_eq!(
            split_ok(
                "postgres://u:p%3F@h:5432/db?sslmode=verify-full&application_name=x&sslrootcert=%2Fetc%2Fca%20one.pem"
            ),
            parts(
                "postgres://u:p%3F@h:5432/db?application_name=x",
                Some("verify-full"),
                Some("/etc/ca one.pem")
            )
        );
        // A password with `?` in it; the last value wins; nothing left: no `?`.
        assert_eq!(
            split_ok("postgresql://u:a?b@h/db?sslmode=prefer&sslmode=require&"),
            parts("postgresql://u:a?b@h/db", Some("require"), None)
        );
        assert_eq!(split_ok("postgres://h/db"), parts("postgres://h/db", None, None));
        // What the postgres crate cannot read either is passed on whole, for its own error.
        assert_eq!(
            split_ok("postgres://h/db?sslmode"),
            parts("postgres://h/db?sslmode", None, None)
        );
        assert_eq!(
            split_ok("postgres://h/db?sslmode=%FF"),
            parts("postgres://h/db?sslmode=%FF", None, None)
        );
    }

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_key_values() {
        assert_eq!(
            split_ok("host=h sslmode = require  user=u sslrootcert='/a b/c\\'d.pem' dbname=x\\ y"),
            parts("host=h user=u dbname=x\\ y", Some("require"), Some("/a b/c'd.pem"))
        );
        assert_eq!(split_ok("  "), parts("", None, None));
        assert_eq!(
            split_ok("host=h sslrootcert='unterminated"),
            parts("host=h sslrootcert='unterminated", None, None)
        );
    }

    fn config_error(url: &str) -> (&'static str, String) {
        match Connect::parse(url) {
            Err(ResourceError::Config { key, reason }) => (key, reason),
            Err(e) => panic!("{url}: {e:?}"),
            Ok(_) => panic!("{url}: parsed"),
        }
    }

    #[test]
    fn unknown_modes_and_unreadable_root_files_are_errors_that_name_them() {
        let (key, reason) = config_error("postgres://h/db?sslmode=allow");
        assert_eq!(key, "sslmode");
        assert!(reason.contains("`allow`") && reason.contains("verify-full"), "{reason}");
        let dir = std::env::temp_dir().join(format!("fsm-tls-{}", std::process::id()));
        let missing = dir.join("no-such-ca.pem");
        let (key, reason) = config_error(&format!("host=h sslmode=require sslrootcert={}", missing.display()));
        assert_eq!(key, "sslrootcert");
        assert!(reason.contains(&missing.display().to_string()), "{reason}");
        std::fs::create_dir_all(&dir).unwrap();
        let not_pem = dir.join("not-pem.pem");
        std::fs::write(&not_pem, "no certificate here\n").unwrap();
        let (_, reason) = config_error(&format!("postgres://h/db?sslrootcert={}", not_pem.display()));
        assert!(
            reason.contains("no certificate") && reason.contains("not-pem.pem"),
            "{reason}"
        );
        let bad = dir.join("bad.pem");
        std::fs::write(&bad, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        let (_, reason) = config_error(&format!(
            "postgres://h/db?sslmode=verify-ca&sslrootcert={}",
            bad.display()
        ));
        assert!(reason.contains("bad.pem"), "{reason}");
        // Under `disable` the file is not read.
        assert!(
            Connect::parse(&format!(
                "postgres://h/db?sslmode=disable&sslrootcert={}",
                missing.display()
            ))
            .is_ok()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_modes_set_the_clients_sslmode() {
        for (url, mode) in [
            ("postgres://h/db", SslMode::Prefer),
            ("postgres://h/db?sslmode=disable", SslMode::Disable),
            ("host=h sslmode=prefer", SslMode::Prefer),
            ("host=h sslmode=require", SslMode::Require),
            ("postgres://h/db?sslmode=verify-ca", SslMode::Require),
            ("postgres://h/db?sslmode=verify-full", SslMode::Require),
        ] {
            let connect = Connect::parse(url).unwrap();
            assert_eq!(connect.config.get_ssl_mode(), mode, "{url}");
            assert_eq!(connect.tls.0.is_some(), mode != SslMode::Disable, "{url}");
        }
    }

    /// Self-signed certificates made with `openssl req -x509` for these tests, and their
    /// `openssl x509 -fingerprint` with the hash RFC 5929 picks.
    const RSA_SHA256: &str = include_str!("testdata/rsa-sha256.pem");
    const ECDSA_SHA384: &str = include_str!("testdata/ecdsa-sha384.pem");
    const ED25519: &str = include_str!("testdata/ed25519.pem");

    fn der_of(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02X}")).collect()
    }

    #[test]
    fn the_channel_binding_hashes_the_certificate_with_its_signatures_hash() {
        let rsa = end_point_hash(&der_of(RSA_SHA256)).unwrap();
        assert_eq!(
            hex(&rsa),
            "242E2F0716FDFE3F9B2199CA2889966E147AE9AC6A27A51B768E8E81E805B88D"
        );
        let ecdsa = end_point_hash(&der_of(ECDSA_SHA384)).unwrap();
        assert_eq!(
            hex(&ecdsa),
            "D8CB25C0E8BD78F2981BD2AB04EE24042D851CDECF0E4C2B19FFF224C231ED44C30DAB863AA1B0DF56B791C853001887"
        );
        assert_eq!(end_point_hash(&der_of(ED25519)), None);
        // Not a certificate, or cut short: no binding, no panic.
        assert_eq!(end_point_hash(b""), None);
        assert_eq!(end_point_hash(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        let full = der_of(RSA_SHA256);
        assert!((0..full.len()).all(|n| end_point_hash(&full[..n]).is_none()));
    }
}
