//! Picks Amazon Trust Services' roots out of Mozilla's list at build time, so the binary holds
//! those five certificates and nothing else of the list (see src/trust.rs).

use std::error::Error;
use std::path::PathBuf;

/// The subjects of the roots AWS endpoints chain to, as they appear in the certificates.
const AMAZON_TRUST_SERVICES: &[&str] = &[
    "Amazon Root CA 1",
    "Amazon Root CA 2",
    "Amazon Root CA 3",
    "Amazon Root CA 4",
    "Starfield Services Root Certificate Authority - G2",
];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let mut code = String::from("/// Amazon Trust Services' root certificates (DER), from Mozilla's list.\n");
    code.push_str("pub(crate) static AMAZON_TRUST_SERVICES_ROOTS: &[&[u8]] = &[\n");
    for name in AMAZON_TRUST_SERVICES {
        let found: Vec<&[u8]> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| c.as_ref())
            .filter(|der| contains(der, name.as_bytes()))
            .collect();
        if found.len() != 1 {
            return Err(format!("expected one root named {name:?} in webpki-root-certs, found {}", found.len()).into());
        }
        let file = format!("{}.der", name.replace(' ', "-"));
        std::fs::write(out.join(&file), found[0])?;
        code.push_str(&format!("    include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{file}\")),\n"));
    }
    code.push_str("];\n");
    std::fs::write(out.join("amazon_trust_services.rs"), code)?;
    Ok(())
}
