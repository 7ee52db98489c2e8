//! The wire format, pure and without I/O: an in-toto Statement v1 whose predicate is a
//! promptrail audit event, in a DSSE envelope, in a Sigstore bundle v0.3.
//!
//! ```text
//! entries/000000/000000042.json
//! └─ Sigstore bundle v0.3  (mediaType application/vnd.dev.sigstore.bundle.v0.3+json)
//!    ├─ verificationMaterial.publicKey.hint = key id (hex sha256 of the SPKI DER)
//!    ├─ verificationMaterial.tlogEntries = []   (key mode)
//!    └─ dsseEnvelope { payloadType: application/vnd.in-toto+json, payload, signatures[1] }
//!       └─ in-toto Statement v1 { subject[], predicateType, predicate: AuditEvent }
//! ```

pub mod bundle;
pub mod dsse;
pub mod predicate;
pub mod statement;

pub use bundle::Bundle;
pub use dsse::{Envelope, pae};
pub use predicate::AuditEvent;
pub use statement::{ResourceDescriptor, Statement};
