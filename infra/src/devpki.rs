//! Development PKI and keys, generated on first `carehub up` when none are
//! configured: a CA, a server certificate for localhost, one client
//! certificate per role (URI SAN `urn:carehub:<role>:<code>`), the edge's
//! assertion key, the access log's checkpoint signing key, a stand-in
//! portal identity provider's signing key, and the CA's revocation list
//! (`carehub dev revoke`, `carehub dev issue`).
//! Never for production: the private keys sit in plain files.

use crate::error::{Doing, Error, Result};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber, string::Ia5String,
};
use std::path::{Path, PathBuf};

/// The development principals, one per role, with realistic codes.
pub const DEV_CLIENTS: &[(&str, &str)] = &[
    ("municipality", "urn:carehub:municipality:131016"),
    ("care-manager", "urn:carehub:care-manager:1371234567"),
    ("care-service", "urn:carehub:care-service:1311234568"),
    ("medical", "urn:carehub:medical:1312345678"),
    ("portal", "urn:carehub:portal:mynaportal-dev"),
    ("operator", "urn:carehub:operator:ops-dev"),
];

/// Where the development material lives under the state directory.
#[derive(Debug, Clone)]
pub struct DevPaths {
    /// `<state>/pki`.
    pub pki: PathBuf,
}

impl DevPaths {
    /// Paths under a state directory.
    pub fn new(state_dir: &Path) -> DevPaths {
        DevPaths {
            pki: state_dir.join("pki"),
        }
    }
    /// The CA certificate (the bundle clients are verified against).
    pub fn ca_cert(&self) -> PathBuf {
        self.pki.join("ca.pem")
    }
    /// The CA's private key.
    pub fn ca_key(&self) -> PathBuf {
        self.pki.join("ca.key")
    }
    /// The CA's certificate revocation list (PEM), which `carehub dev
    /// revoke` adds to and the edge checks when it uses the development PKI.
    pub fn crl(&self) -> PathBuf {
        self.pki.join("ca.crl.pem")
    }
    /// The server certificate.
    pub fn server_cert(&self) -> PathBuf {
        self.pki.join("server.pem")
    }
    /// The server key.
    pub fn server_key(&self) -> PathBuf {
        self.pki.join("server.key")
    }
    /// A client certificate by name (see [`DEV_CLIENTS`]).
    pub fn client_cert(&self, name: &str) -> PathBuf {
        self.pki.join("clients").join(format!("{name}.pem"))
    }
    /// A client key by name.
    pub fn client_key(&self, name: &str) -> PathBuf {
        self.pki.join("clients").join(format!("{name}.key"))
    }
    /// The edge's assertion key (hex).
    pub fn assertion_key(&self) -> PathBuf {
        self.pki.join("assertion.key")
    }
    /// The key webhook signing secrets are sealed with (hex).
    pub fn webhook_secret_key(&self) -> PathBuf {
        self.pki.join("webhook-secret.key")
    }
    /// The access log's checkpoint signing key (PKCS#8 PEM, Ed25519): the
    /// Spin variable `log_signing_key`.
    pub fn log_signing_key(&self) -> PathBuf {
        self.pki.join("log-signing.key")
    }
    /// Its public key (SPKI PEM), what `carehub verify-log` checks
    /// checkpoints against by default.
    pub fn log_public_key(&self) -> PathBuf {
        self.pki.join("log-signing.pub.pem")
    }
    /// The development portal IdP's private key (PKCS#8 PEM, P-256).
    pub fn idp_key(&self) -> PathBuf {
        self.pki.join("person-idp.key")
    }
    /// The development portal IdP's public key (SPKI PEM).
    pub fn idp_public_key(&self) -> PathBuf {
        self.pki.join("person-idp.pub.pem")
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).doing(|| format!("reading {}", path.display()))
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).doing(|| format!("writing {}", path.display()))
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut f = options
        .open(path)
        .doing(|| format!("writing {}", path.display()))?;
    f.write_all(contents.as_bytes())
        .doing(|| format!("writing {}", path.display()))
}

/// A certificate authority that can sign client and server certificates.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub cert_pem: String,
}

impl Authority {
    /// A new self-signed CA.
    pub fn generate(common_name: &str) -> Result<Authority> {
        let doing = || format!("generating the CA {common_name:?}");
        let key = KeyPair::generate().doing(doing)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).doing(doing)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).doing(doing)?;
        Ok(Authority {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// Loads a CA from its certificate and key.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<Authority> {
        let doing = || "loading a CA from its certificate and key".to_owned();
        let key = KeyPair::from_pem(key_pem).doing(doing)?;
        Ok(Authority {
            issuer: Issuer::from_ca_cert_pem(cert_pem, key).doing(doing)?,
            cert_pem: cert_pem.to_owned(),
        })
    }

    /// A server certificate for the given DNS names / IP addresses: (cert PEM, key PEM).
    pub fn server(&self, names: &[&str]) -> Result<(String, String)> {
        self.server_named("carehub gateway", names)
    }

    /// A server certificate with this common name for the given DNS names /
    /// IP addresses: (cert PEM, key PEM).
    pub fn server_named(&self, common_name: &str, names: &[&str]) -> Result<(String, String)> {
        let doing = || format!("issuing a server certificate for {}", names.join(", "));
        let key = KeyPair::generate().doing(doing)?;
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .doing(doing)?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).doing(doing)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// A client certificate naming `urn` as its URI SAN: (cert PEM, key PEM).
    pub fn client(&self, urn: &str) -> Result<(String, String)> {
        self.client_valid(urn, None)
    }

    /// A client certificate naming `urn`, valid only from `validity.0` to
    /// `validity.1` when given (rcgen's far-reaching default otherwise),
    /// e.g. an expired one for a test.
    pub fn client_valid(
        &self,
        urn: &str,
        validity: Option<(time::OffsetDateTime, time::OffsetDateTime)>,
    ) -> Result<(String, String)> {
        let doing = || format!("issuing a client certificate for {urn}");
        let key = KeyPair::generate().doing(doing)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).doing(doing)?;
        params.distinguished_name.push(DnType::CommonName, urn);
        if let Some((not_before, not_after)) = validity {
            params.not_before = not_before;
            params.not_after = not_after;
        }
        params.subject_alt_names = vec![SanType::URI(Ia5String::try_from(urn).doing(doing)?)];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).doing(doing)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// The CA's private key, PEM.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// A CRL (PEM) revoking these serial numbers, each with its revocation
    /// time, numbered `number`, valid for 30 days from now.
    pub fn crl(&self, revoked: &[(Vec<u8>, time::OffsetDateTime)], number: u64) -> Result<String> {
        let doing = || "signing the development CA's certificate revocation list".to_owned();
        let now = time::OffsetDateTime::now_utc();
        let params = CertificateRevocationListParams {
            this_update: now,
            next_update: now + time::Duration::days(30),
            crl_number: SerialNumber::from(number.to_be_bytes().to_vec()),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|(serial, at)| RevokedCertParams {
                    serial_number: SerialNumber::from(serial.clone()),
                    revocation_time: *at,
                    reason_code: Some(RevocationReason::Unspecified),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        params
            .signed_by(&self.issuer)
            .doing(doing)?
            .pem()
            .doing(doing)
    }
}

/// The serial number of the (first) certificate in a PEM file.
fn serial_of(path: &Path) -> Result<Vec<u8>> {
    let certs = crate::edge::read_pem_certs(path)?;
    let (_, cert) = x509_parser::parse_x509_certificate(certs[0].as_ref())
        .map_err(|e| Error::unexpected("parsing a development certificate", e))?;
    Ok(cert.raw_serial().to_vec())
}

/// The serial numbers a PEM CRL revokes, with their revocation times.
fn revoked_in(path: &Path) -> Result<Vec<(Vec<u8>, time::OffsetDateTime)>> {
    let mut revoked = Vec::new();
    for der in crate::tls::read_crls(path)? {
        let (_, crl) = x509_parser::parse_x509_crl(der.as_ref()).map_err(|e| Error::BadCrl {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        for entry in crl.iter_revoked_certificates() {
            revoked.push((
                entry.raw_serial().to_vec(),
                entry.revocation_date.to_datetime(),
            ));
        }
    }
    Ok(revoked)
}

fn dev_client(name: &str) -> Result<&'static str> {
    DEV_CLIENTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, urn)| *urn)
        .ok_or_else(|| {
            let names: Vec<&str> = DEV_CLIENTS.iter().map(|(n, _)| *n).collect();
            Error::NoDevClient {
                name: name.to_owned(),
                known: names.join(", "),
            }
        })
}

fn crl_number() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `carehub dev revoke <name>`: adds the current certificate of the
/// development client `name` to the development CA's CRL, which a running
/// gateway picks up at its next reload. Returns the CRL's path and the
/// serial numbers it now revokes (hex).
pub fn revoke(paths: &DevPaths, name: &str) -> Result<(PathBuf, Vec<String>)> {
    dev_client(name)?;
    let authority = Authority::load(&read(&paths.ca_cert())?, &read(&paths.ca_key())?)?;
    let mut revoked = if paths.crl().exists() {
        revoked_in(&paths.crl())?
    } else {
        Vec::new()
    };
    let serial = serial_of(&paths.client_cert(name))?;
    if !revoked.iter().any(|(s, _)| *s == serial) {
        revoked.push((serial, time::OffsetDateTime::now_utc()));
    }
    write_atomically(&paths.crl(), &authority.crl(&revoked, crl_number())?)?;
    Ok((
        paths.crl(),
        revoked.iter().map(|(s, _)| hex::encode(s)).collect(),
    ))
}

/// `carehub dev issue <name>`: a fresh certificate and key for the
/// development client `name` (same principal, new serial number), e.g.
/// after [`revoke`]. Returns the certificate's path.
pub fn issue(paths: &DevPaths, name: &str) -> Result<PathBuf> {
    let urn = dev_client(name)?;
    let authority = Authority::load(&read(&paths.ca_cert())?, &read(&paths.ca_key())?)?;
    let (cert, key) = authority.client(urn)?;
    write_private(&paths.client_key(name), &key)?;
    write(&paths.client_cert(name), &cert)?;
    Ok(paths.client_cert(name))
}

/// Writes through a temporary file and a rename, so that a gateway
/// reloading the file never reads half of it.
fn write_atomically(path: &Path, contents: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    write(&tmp, contents)?;
    std::fs::rename(&tmp, path).doing(|| format!("replacing {}", path.display()))
}

/// Creates whatever development material is missing; returns true when it
/// generated anything.
pub fn ensure(paths: &DevPaths) -> Result<bool> {
    let clients = paths.pki.join("clients");
    std::fs::create_dir_all(&clients).doing(|| format!("creating {}", clients.display()))?;
    let mut generated = false;
    let authority = if paths.ca_cert().exists() && paths.ca_key().exists() {
        Authority::load(&read(&paths.ca_cert())?, &read(&paths.ca_key())?)?
    } else {
        let a = Authority::generate("carehub development CA")?;
        write(&paths.ca_cert(), &a.cert_pem)?;
        write_private(&paths.ca_key(), &a.key_pem())?;
        generated = true;
        a
    };
    if !paths.server_cert().exists() || !paths.server_key().exists() {
        let (cert, key) = authority.server(&["localhost", "127.0.0.1", "::1"])?;
        write(&paths.server_cert(), &cert)?;
        write_private(&paths.server_key(), &key)?;
        generated = true;
    }
    for (name, urn) in DEV_CLIENTS {
        if !paths.client_cert(name).exists() || !paths.client_key(name).exists() {
            let (cert, key) = authority.client(urn)?;
            write(&paths.client_cert(name), &cert)?;
            write_private(&paths.client_key(name), &key)?;
            generated = true;
        }
    }
    if !paths.crl().exists() {
        write_atomically(&paths.crl(), &authority.crl(&[], crl_number())?)?;
        generated = true;
    }
    if !paths.assertion_key().exists() {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(Error::Randomness)?;
        write_private(&paths.assertion_key(), &hex::encode(bytes))?;
        generated = true;
    }
    if !paths.webhook_secret_key().exists() {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(Error::Randomness)?;
        write_private(&paths.webhook_secret_key(), &hex::encode(bytes))?;
        generated = true;
    }
    if !paths.log_signing_key().exists() {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(Error::Randomness)?;
        let key = carehub_domain::CheckpointSigner::from_seed(&seed);
        write_private(&paths.log_signing_key(), &key.to_pem())?;
        write(&paths.log_public_key(), &key.verifier().to_pem())?;
        generated = true;
    } else if !paths.log_public_key().exists() {
        let key = carehub_domain::CheckpointSigner::from_pem(&read(&paths.log_signing_key())?)
            .map_err(|e| Error::unexpected("reading the log signing key", e))?;
        write(&paths.log_public_key(), &key.verifier().to_pem())?;
    }
    if !paths.idp_key().exists() || !paths.idp_public_key().exists() {
        let key = KeyPair::generate().doing(|| "generating the development IdP key".into())?;
        write_private(&paths.idp_key(), &key.serialize_pem())?;
        write(&paths.idp_public_key(), &key.public_key_pem())?;
        generated = true;
    }
    Ok(generated)
}

/// What [`server_cert`] wrote.
#[derive(Debug, Clone)]
pub struct ServerCertFiles {
    /// The CA certificate (`<dir>/ca.pem`): the bundle clients trust.
    pub ca_cert: PathBuf,
    /// The server certificate (`<dir>/<name>.pem`).
    pub cert: PathBuf,
    /// Its private key (`<dir>/<name>.key`, mode 0600).
    pub key: PathBuf,
}

/// A development CA in `dir` (`ca.pem`, `ca.key`; generated if missing)
/// and a server certificate `<name>.pem` / `<name>.key` it signs for
/// `names` (DNS names or IP addresses), e.g. for a throwaway PostgreSQL
/// server that clients verify with `sslmode=verify-full`.
pub fn server_cert(dir: &Path, name: &str, names: &[&str]) -> Result<ServerCertFiles> {
    std::fs::create_dir_all(dir).doing(|| format!("creating {}", dir.display()))?;
    let files = ServerCertFiles {
        ca_cert: dir.join("ca.pem"),
        cert: dir.join(format!("{name}.pem")),
        key: dir.join(format!("{name}.key")),
    };
    let ca_key = dir.join("ca.key");
    let authority = if files.ca_cert.exists() && ca_key.exists() {
        Authority::load(&read(&files.ca_cert)?, &read(&ca_key)?)?
    } else {
        let a = Authority::generate(&format!("carehub development CA ({name})"))?;
        write(&files.ca_cert, &a.cert_pem)?;
        write_private(&ca_key, &a.key_pem())?;
        a
    };
    let (cert, key) = authority.server_named(name, names)?;
    write(&files.cert, &cert)?;
    write_private(&files.key, &key)?;
    Ok(files)
}

/// Claims of a person token, as the portal's identity provider issues them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PersonClaims {
    /// Issuer (must equal the `person_token_issuer` variable).
    pub iss: String,
    /// Audience, always "carehub".
    pub aud: String,
    /// Opaque subject (the portal account).
    pub sub: String,
    /// The person's insurer number.
    pub insurer_number: String,
    /// The person's insured number.
    pub insured_number: String,
    /// "person" or "proxy".
    pub actor: String,
    /// Issued at (seconds).
    pub iat: u64,
    /// Expires at (seconds).
    pub exp: u64,
}

/// Signs a person token with the development IdP key (ES256).
pub fn person_token(idp_key_pem: &str, claims: &PersonClaims) -> Result<String> {
    let key = jsonwebtoken::EncodingKey::from_ec_pem(idp_key_pem.as_bytes()).map_err(|source| {
        Error::Jwt {
            doing: "reading the IdP key",
            source,
        }
    })?;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256),
        claims,
        &key,
    )
    .map_err(|source| Error::Jwt {
        doing: "signing the person token",
        source,
    })
}
