//! Test-only keys shared by the JWT, person-token and assertion tests.

/// A throwaway P-256 key pair (generated with openssl for these tests).
pub const PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxLArcJZ8qNy8u4VH
nR57wAoLu6qFsC36k7va1rI5406hRANCAASO0+KSkJZwA2zuwUIB1o6Q8riTFYck
Tqnotzp7e0OX9xADEEYnk30b7qqWuUTxuEkI7RWZxEFQtmeMhe8qVUhY
-----END PRIVATE KEY-----
";
/// Its public half.
pub const PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEjtPikpCWcANs7sFCAdaOkPK4kxWH
JE6p6Lc6e3tDl/cQAxBGJ5N9G+6qlrlE8bhJCO0VmcRBULZnjIXvKlVIWA==
-----END PUBLIC KEY-----
";
