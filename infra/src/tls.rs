//! The edge's TLS configuration, reloadable without a restart.
//!
//! One `rustls::ServerConfig` serves every connection; what changes lives
//! behind three swappable parts it holds, so that the accept loop
//! (`server::run`) keeps a plain `TlsAcceptor`:
//!
//! - the client-certificate verifier (`Verifier`): the CA bundle and the
//!   certificate revocation lists (CRLs, `--tls-crl`, PEM or DER) in one
//!   `WebPkiClientVerifier`, so a revoked or expired client certificate is
//!   refused at the handshake;
//! - the server certificate and key (`Certificate`, a
//!   `ResolvesServerCert`);
//! - the TLS 1.3 session cache (`Sessions`): a resumed session carries
//!   the client certificate verified when it began, so every reload starts
//!   a new cache and a revoked certificate cannot come back by resumption.
//!
//! [`Reloadable::watch`] re-reads the files when one of them changes (mtime
//! or size, polled) or on SIGHUP. A reload that fails (a half-written file,
//! a key that does not match its certificate) keeps the configuration in
//! use and is retried at the next poll. Connections already open keep the
//! identity they were verified with until they close.

use crate::edge::read_pem_certs;
use crate::error::{Doing, Error, Result, report};
use arc_swap::ArcSwap;
use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{
    ClientHello, ResolvesServerCert, ServerSessionMemoryCache, StoresServerSessions,
    WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Session-cache entries, as rustls' default.
const SESSION_CACHE_ENTRIES: usize = 256;

/// The files the edge's TLS is made of.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// CA bundle (PEM) client certificates must chain to.
    pub ca: PathBuf,
    /// Server certificate chain (PEM).
    pub cert: PathBuf,
    /// Server private key (PEM).
    pub key: PathBuf,
    /// Certificate revocation lists (PEM or DER), each checked for every
    /// client certificate.
    pub crls: Vec<PathBuf>,
}

impl TlsFiles {
    /// The files `carehub up` was given (`--tls-ca`, `--tls-cert`,
    /// `--tls-key`, `--tls-crl`), or else the development PKI's, whose CRL
    /// (`carehub dev revoke`) is checked along with any `--tls-crl`.
    pub fn of(opts: &crate::UpOptions, dev: &crate::devpki::DevPaths) -> TlsFiles {
        match (&opts.tls_ca, &opts.tls_cert, &opts.tls_key) {
            (Some(ca), Some(cert), Some(key)) => TlsFiles {
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
                crls: opts.tls_crl.clone(),
            },
            _ => TlsFiles {
                ca: dev.ca_cert(),
                cert: dev.server_cert(),
                key: dev.server_key(),
                crls: opts.tls_crl.iter().cloned().chain([dev.crl()]).collect(),
            },
        }
    }

    fn all(&self) -> impl Iterator<Item = &PathBuf> {
        [&self.ca, &self.cert, &self.key]
            .into_iter()
            .chain(self.crls.iter())
    }

    /// What the files look like now (mtime and size each; `None` for one
    /// that cannot be read), to notice a change.
    fn stamp(&self) -> Vec<Option<(SystemTime, u64)>> {
        self.all()
            .map(|p| {
                std::fs::metadata(p)
                    .ok()
                    .and_then(|m| Some((m.modified().ok()?, m.len())))
            })
            .collect()
    }
}

/// The edge's TLS configuration and what reloads it.
pub struct Reloadable {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    verifier: Arc<Verifier>,
    certificate: Arc<Certificate>,
    sessions: Arc<Sessions>,
    config: Arc<rustls::ServerConfig>,
    stamp: Mutex<Vec<Option<(SystemTime, u64)>>>,
}

impl std::fmt::Debug for Reloadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloadable")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl Reloadable {
    /// Reads the files into a configuration: TLS 1.3 only; a client
    /// certificate is verified against the CA bundle and the CRLs when
    /// presented (a certificate from another CA, revoked or expired fails
    /// the handshake); a connection without one is let through so that it
    /// gets a clear 401 problem instead of a bare handshake failure.
    pub fn load(files: TlsFiles) -> Result<Arc<Reloadable>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let stamp = files.stamp();
        let verifier = Arc::new(Verifier(ArcSwap::from_pointee(client_verifier(
            &files, &provider,
        )?)));
        let certificate = Arc::new(Certificate(ArcSwap::new(certified_key(&files, &provider)?)));
        let sessions = Arc::new(Sessions(ArcSwap::new(ServerSessionMemoryCache::new(
            SESSION_CACHE_ENTRIES,
        ))));
        let mut config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .doing(|| "choosing TLS 1.3".into())?
            .with_client_cert_verifier(verifier.clone())
            .with_cert_resolver(certificate.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.session_storage = sessions.clone();
        Ok(Arc::new(Reloadable {
            files,
            provider,
            verifier,
            certificate,
            sessions,
            config: Arc::new(config),
            stamp: Mutex::new(stamp),
        }))
    }

    /// The configuration; it sees every reload.
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        self.config.clone()
    }

    /// The acceptor for the accept loop; it sees every reload.
    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }

    /// Re-reads every file and, if all of them read, uses them for new
    /// connections (and forgets the sessions to resume). On error the
    /// configuration in use stays.
    pub fn reload(&self) -> Result<()> {
        let stamp = self.files.stamp();
        let verifier = client_verifier(&self.files, &self.provider)?;
        let key = certified_key(&self.files, &self.provider)?;
        self.verifier.0.store(Arc::new(verifier));
        self.certificate.0.store(key);
        self.sessions
            .0
            .store(ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES));
        *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = stamp;
        Ok(())
    }

    /// Reloads when a file changed since the last (successful) load;
    /// whether it reloaded.
    pub fn reload_if_changed(&self) -> Result<bool> {
        let now = self.files.stamp();
        if *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) == now {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }

    /// Watches the files on the current runtime until the process ends:
    /// every `interval` (none: only on SIGHUP) and on every SIGHUP.
    pub fn watch(self: &Arc<Self>, interval: Option<Duration>) {
        let this = self.clone();
        tokio::spawn(async move {
            #[cfg(unix)]
            let mut hangup =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
            let mut ticker = interval.map(|i| {
                let mut t = tokio::time::interval(i);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            loop {
                let tick = async {
                    match ticker.as_mut() {
                        Some(t) => {
                            t.tick().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                #[cfg(unix)]
                let hup = async {
                    match hangup.as_mut() {
                        Some(h) => {
                            h.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                #[cfg(not(unix))]
                let hup = std::future::pending::<()>();
                let outcome = tokio::select! {
                    () = tick => this.reload_if_changed(),
                    () = hup => this.reload().map(|()| true),
                };
                match outcome {
                    Ok(true) => tracing::info!("TLS configuration reloaded"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(
                        "TLS configuration not reloaded (the previous one stays): {}",
                        report(&e)
                    ),
                }
            }
        });
    }
}

/// The CA bundle and CRLs as one verifier.
fn client_verifier(
    files: &TlsFiles,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_pem_certs(&files.ca)? {
        roots
            .add(ca)
            .doing(|| format!("adding a CA from {}", files.ca.display()))?;
    }
    let mut crls = Vec::new();
    for path in &files.crls {
        crls.extend(read_crls(path)?);
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        .allow_unauthenticated()
        .build()
        .doing(|| "building the client-certificate verifier".into())
}

/// The CRLs of one file: PEM (one or more `X509 CRL` blocks) or one DER.
pub fn read_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>> {
    let data = std::fs::read(path).doing(|| format!("reading {}", path.display()))?;
    let pem = data.trim_ascii_start().starts_with(b"-----BEGIN");
    let crls = if pem {
        rustls_pemfile::crls(&mut data.as_slice())
            .collect::<Result<Vec<_>, _>>()
            .doing(|| format!("parsing CRLs in {}", path.display()))?
    } else {
        vec![CertificateRevocationListDer::from(data)]
    };
    if crls.is_empty() {
        return Err(Error::NoCrl(path.to_owned()));
    }
    // Parsed here so that a bad file is named at load, not at a handshake.
    for crl in &crls {
        x509_parser::parse_x509_crl(crl.as_ref()).map_err(|e| Error::BadCrl {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    }
    Ok(crls)
}

fn certified_key(files: &TlsFiles, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>> {
    let chain = read_pem_certs(&files.cert)?;
    let key = read_pem_key(&files.key)?;
    Ok(Arc::new(
        CertifiedKey::from_der(chain, key, provider).doing(|| {
            format!(
                "loading the server certificate {} with the key {}",
                files.cert.display(),
                files.key.display()
            )
        })?,
    ))
}

fn read_pem_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let data = std::fs::read(path).doing(|| format!("reading {}", path.display()))?;
    rustls_pemfile::private_key(&mut data.as_slice())
        .doing(|| format!("parsing {}", path.display()))?
        .ok_or_else(|| Error::NoPrivateKey(path.to_owned()))
}

/// The client-certificate verifier in use, swapped on reload.
#[derive(Debug)]
struct Verifier(ArcSwap<Arc<dyn ClientCertVerifier>>);

impl ClientCertVerifier for Verifier {
    fn offer_client_auth(&self) -> bool {
        self.0.load().offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.0.load().client_auth_mandatory()
    }

    /// None: the hints would have to outlive a reload. An empty list tells
    /// the client to send the certificate it has.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        self.0
            .load()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.load().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.load().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.load().supported_verify_schemes()
    }
}

/// The server certificate in use, swapped on reload.
#[derive(Debug)]
struct Certificate(ArcSwap<CertifiedKey>);

impl ResolvesServerCert for Certificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// The session cache in use, replaced by an empty one on reload.
#[derive(Debug)]
struct Sessions(ArcSwap<ServerSessionMemoryCache>);

impl StoresServerSessions for Sessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.0.load().put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.load().get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.load().take(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}
