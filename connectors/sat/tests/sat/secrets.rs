//! Secrets never reach logs, `Debug` output or settings: a whole run is traced at TRACE level into a buffer and
//! searched for the password and the key bytes.

use crate::scenarios::harness;
use base64::Engine;
use cuadra_sat::SatSettings;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_traced_run_leaks_no_key_or_password() {
    let buf = Buffer::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

    let mut h = harness(|_| {}).await;
    h.fake.script(|s| {
        s.download_failures = 1;
        s.token_uses = Some(3);
    });
    let delivered = h.drive(20).await;
    assert_eq!(delivered.len(), 2);
    let dbg = format!("{:?} {:?}", h.settings, h.source);

    let log = String::from_utf8_lossy(&buf.0.lock().expect("buffer")).into_owned();
    assert!(log.contains("cuadra_sat"), "the run was traced: {log}");
    let (_, key_path, password) = h._fiel_source.paths();
    let key = std::fs::read(key_path).expect("key");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&key);
    let hex = hex::encode(&key);
    for haystack in [&log, &dbg] {
        assert!(!haystack.contains(password), "password leaked");
        assert!(!haystack.contains(&b64[..40]), "key bytes (base64) leaked");
        assert!(
            !haystack.to_lowercase().contains(&hex[..40]),
            "key bytes (hex) leaked"
        );
    }
    assert!(dbg.contains("[redacted]"));
}

#[test]
fn settings_refuse_a_password_in_toml_and_unknown_keys() {
    let ok: SatSettings = serde_json::from_value(serde_json::json!({
        "certificate_path": "fiel.cer", "key_path": "fiel.key", "password_file": "pw.txt"
    }))
    .expect("minimal settings");
    assert_eq!(
        (ok.window_days, ok.recibidos, ok.backfill_from),
        (7, false, None)
    );
    assert!(ok
        .request_base_url
        .starts_with("https://cfdidescargamasivasolicitud"));
    assert!(ok
        .download_base_url
        .starts_with("https://cfdidescargamasiva.clouda"));
    let err = serde_json::from_value::<SatSettings>(serde_json::json!({
        "certificate_path": "a", "key_path": "b", "password": "hunter2"
    }))
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("unknown field `password`"), "{err}");
    assert!(serde_json::from_value::<SatSettings>(serde_json::json!({
        "certificate_path": "a", "key_path": "b", "windows_days": 3
    }))
    .is_err());
}

#[test]
fn password_file_is_read_without_newline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("pw.txt");
    std::fs::write(&p, "abc123\n").expect("write");
    let pw = cuadra_sat::settings::read_password_file(&p).expect("read");
    use secrecy::ExposeSecret;
    assert_eq!(pw.expose_secret(), "abc123");
    let err =
        cuadra_sat::settings::read_password_file(&dir.path().join("missing")).expect_err("missing");
    assert!(err.contains("missing"), "{err}");
}
