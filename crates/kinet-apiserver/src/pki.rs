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

impl Pki {
    /// Loads the PKI from `dir`, or creates it there.
    pub fn load_or_create(dir: &Path, extra_ips: &[IpAddr]) -> Result<Pki> {
        let (ca, cert, key) = (
            dir.join("ca.crt"),
            dir.join("apiserver.crt"),
            dir.join("apiserver.key"),
        );
        if ca.exists() && cert.exists() && key.exists() {
            return Ok(Pki {
                ca_pem: std::fs::read_to_string(&ca)?,
                cert_pem: std::fs::read_to_string(&cert)?,
                key_pem: std::fs::read_to_string(&key)?,
            });
        }
        let pki = Self::generate(extra_ips)?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        std::fs::write(&ca, &pki.ca_pem)?;
        std::fs::write(&cert, &pki.cert_pem)?;
        std::fs::write(&key, &pki.key_pem)?;
        Ok(pki)
    }

    pub fn generate(extra_ips: &[IpAddr]) -> Result<Pki> {
        let ca_key = KeyPair::generate()?;
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
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
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
