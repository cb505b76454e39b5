//! The lab's certificate authority and the API server's serving certificate.
//! Kept as PEM files in the lab's state directory so a restarted daemon keeps
//! serving with the certificate the user's kubeconfig trusts.

use anyhow::{Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

pub struct Pki {
    pub ca_pem: String,
    /// The CA's key (pki/ca.key), which signs the fake internet's certificates.
    pub ca_key_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// The names the API server answers to, inside and outside the lab.
pub fn default_sans(extra_ips: &[IpAddr]) -> Vec<SanType> {
    let mut sans = vec![
        SanType::DnsName("localhost".try_into().unwrap()),
        SanType::DnsName("kubernetes".try_into().unwrap()),
        SanType::DnsName("kubernetes.default".try_into().unwrap()),
        SanType::DnsName("kubernetes.default.svc".try_into().unwrap()),
        SanType::DnsName("kubernetes.default.svc.cluster.local".try_into().unwrap()),
        SanType::IpAddress("127.0.0.1".parse().unwrap()),
    ];
    sans.extend(extra_ips.iter().map(|ip| SanType::IpAddress(*ip)));
    sans
}

/// The CA's parameters; its certificate and every certificate it issues name it so.
fn ca_params() -> CertificateParams {
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kinet-ca");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params
}

impl Pki {
    /// Loads the PKI from `dir`, or creates it there.
    pub fn load_or_create(dir: &Path, extra_ips: &[IpAddr]) -> Result<Pki> {
        let (ca, ca_key, cert, key) = (
            dir.join("ca.crt"),
            dir.join("ca.key"),
            dir.join("apiserver.crt"),
            dir.join("apiserver.key"),
        );
        if ca.exists() && ca_key.exists() && cert.exists() && key.exists() {
            return Ok(Pki {
                ca_pem: std::fs::read_to_string(&ca)?,
                ca_key_pem: std::fs::read_to_string(&ca_key)?,
                cert_pem: std::fs::read_to_string(&cert)?,
                key_pem: std::fs::read_to_string(&key)?,
            });
        }
        let pki = Self::generate(extra_ips)?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(&ca, &pki.ca_pem)?;
        std::fs::write(&ca_key, &pki.ca_key_pem)?;
        std::fs::set_permissions(&ca_key, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        std::fs::write(&cert, &pki.cert_pem)?;
        std::fs::write(&key, &pki.key_pem)?;
        Ok(pki)
    }

    pub fn generate(extra_ips: &[IpAddr]) -> Result<Pki> {
        let ca_key = KeyPair::generate()?;
        let ca_key_pem = ca_key.serialize_pem();
        let ca_params = ca_params();
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "kube-apiserver");
        params.subject_alt_names = default_sans(extra_ips);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(Pki {
            ca_pem: ca_cert.pem(),
            ca_key_pem,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A serving certificate signed by the lab's CA for `dns_names` and `ips`
    /// (the fake internet's sites, one per SNI name): (certificate PEM, key PEM).
    pub fn issue(&self, dns_names: &[String], ips: &[IpAddr]) -> Result<(String, String)> {
        let issuer = Issuer::new(ca_params(), KeyPair::from_pem(&self.ca_key_pem)?);
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let cn = dns_names
            .first()
            .cloned()
            .or_else(|| ips.first().map(|ip| ip.to_string()))
            .unwrap_or_default();
        params.distinguished_name.push(DnType::CommonName, cn);
        for n in dns_names {
            params
                .subject_alt_names
                .push(SanType::DnsName(n.as_str().try_into()?));
        }
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        let cert = params.signed_by(&key, &issuer)?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// A rustls server configuration offering HTTP/2 and HTTP/1.1.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>> {
        let certs =
            rustls_pemfile::certs(&mut self.cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
        let key =
            rustls_pemfile::private_key(&mut self.key_pem.as_bytes())?.context("no private key")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}
